# The pipe (section 1 of the tutorial), three ways: a shell pipeline, a parent feeding its
# spawned child (and beside it the tutorial's own program, python/tutorial/s1_pipe.py, when
# Python 3 is installed), and two unrelated processes over a local socket. Builds once,
# checks that every consumer got exactly N baozi (N=10 by default) and the tutorial's child
# 0 to 9 in order. Twin: pipe.sh.
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

Step "3. the tutorial's own pipe beside it: python/tutorial/s1_pipe.py (one a second there; here 0.02 s)"
# The same parent and child, the numbers 0 to 9; a multiprocessing Pipe carries pickled
# Python objects, so only its own child can read it, where ours is bytes any program reads.
# (Its lines are Chinese: matched here by code point, \uXXXX, to keep this file ASCII.)
$py = Find-Python
if ($py) {
    $out = @(& $py python/tutorial/s1_pipe.py 0.02)
    Check "the tutorial's pipe"
    $out | Write-Host
    $ok = $out.Count -eq 11 -and $out[10] -match '^\u8FDB\u7A0B\u95F4\u901A\u4FE1-\u7BA1\u9053-\u4E3B\u8FDB\u7A0B$'
    for ($i = 0; $i -lt 10 -and $ok; $i++) { $ok = $out[$i] -match "^c1 \u6536\u5230\u5305\u5B50:$i`$" }
    if (-not $ok) { throw "pipe: the tutorial's child did not get 0 to 9 in order" }
}

Step '4. two unrelated processes: consumer -l local:NAME, then producer local:NAME'
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
