# The pipe (section 1 of the tutorial), three ways: a shell pipeline, a parent feeding its
# spawned child, and two unrelated processes over a local socket. Builds once, checks that
# every consumer got exactly N baozi (N=10 by default). Twin: pipe.sh.
$ErrorActionPreference = 'Stop'
Set-Location (Join-Path $PSScriptRoot '..')
. "$PSScriptRoot/lib.ps1"
$N = if ($env:N) { $env:N } else { '10' }
Build-Workspace

Step '1. shell pipeline: producer stdio | consumer stdio'
# cmd's pipe passes bytes as they are (Windows PowerShell 5 would re-encode them as text).
cmd /c "$Bin\producer.exe stdio -n $N | $Bin\consumer.exe stdio --expect $N"
Check 'the shell pipeline'

Step '2. parent and child: producer --spawn-consumer (an anonymous pipe)'
& "$Bin/producer" --spawn-consumer -n $N -- --name child --expect $N
Check 'the spawned child'

Step '3. two unrelated processes: consumer -l local:NAME, then producer local:NAME'
$name = "baozi-pipe-$PID"
$log = New-TemporaryFile
$consumer = Start-Process -FilePath "$Bin/consumer" -PassThru -NoNewWindow `
    -ArgumentList '-l', "local:$name", '--expect', $N -RedirectStandardError $log
Wait-Ready $log | Out-Null
& "$Bin/producer" "local:$name" -n $N --interval 50ms
Check 'the producer'
$consumer.WaitForExit()
Get-Content $log | Write-Host
Remove-Item $log
if ($consumer.ExitCode -ne 0) { throw "pipe: the consumer failed ($($consumer.ExitCode))" }

Step "pipe: all three flavours delivered $N baozi each"
