# The queue (section 2 of the tutorial): a broker, two producers and two consumers, at the
# tutorial's pace (shortened), every item eaten and the totals checked; then a consumer
# killed (Stop-Process -Force, Windows' kill -9) while it holds leased items, and every
# item still eaten. Between them, where queue.sh runs the tutorial's own queue
# (python/tutorial/s2_queue.py), a line says why not here. Builds once. $env:N items per
# producer (10 by default). Twin: queue.sh.
$ErrorActionPreference = 'Stop'
Set-Location (Join-Path $PSScriptRoot '..')
. "$PSScriptRoot/lib.ps1"
$N = if ($env:N) { [int]$env:N } else { 10 }
Build-Workspace

# Fails unless the consumers' output files name every baozi 0..N-1 of each producer.
function Check-Eaten([string[]]$Producers, [string[]]$Files, [int]$Count) {
    $lines = Get-Content $Files
    $seen = @{}
    foreach ($line in $lines) {
        $w = -split $line
        if ($w.Count -ge 6 -and $w[1] -eq 'ate') { $seen["$($w[5]) $($w[3])"] = $true }
    }
    foreach ($p in $Producers) {
        for ($i = 0; $i -lt $Count; $i++) {
            if (-not $seen.ContainsKey("$p $i")) { throw "queue: baozi $i from $p was never eaten" }
        }
    }
    if ($seen.Count -ne $Producers.Count * $Count) { throw "queue: $($seen.Count) distinct items eaten" }
    Write-Host "every one of the $($seen.Count) baozi was eaten"
}

$dir = New-Item -ItemType Directory -Path (Join-Path ([IO.Path]::GetTempPath()) "baozi-queue-$PID")
$procs = @()
try {
    Step '1. the broker, two consumers, two producers (random pauses, as in the tutorial)'
    $q = "local:baozi-queue-$PID"
    $broker = Start-Process -FilePath "$Bin/broker" -PassThru -NoNewWindow `
        -ArgumentList $q, '--producers', '2' -RedirectStandardError "$dir/broker.log"
    $procs += $broker
    Wait-Ready "$dir/broker.log" | Out-Null
    foreach ($c in 'c1', 'c2') {
        $procs += Start-Process -FilePath "$Bin/consumer" -PassThru -NoNewWindow `
            -ArgumentList $q, '--name', $c, '--eat', '0..20ms', '--prefetch', '1' `
            -RedirectStandardOutput "$dir/$c.out"
    }
    foreach ($p in 'p1', 'p2') {
        $procs += Start-Process -FilePath "$Bin/producer" -PassThru -NoNewWindow `
            -ArgumentList $q, '--name', $p, '-n', $N, '--delay', '0..20ms'
    }
    & "$Bin/broker" --status $q # the live numbers, from another process
    Check 'broker --status'
    foreach ($proc in $procs) { $proc.WaitForExit() }
    Get-Content "$dir/c1.out", "$dir/c2.out", "$dir/broker.log" | Write-Host
    if ($broker.ExitCode -ne 0) { throw "queue: the broker failed ($($broker.ExitCode))" }
    if (-not (Select-String -Path "$dir/broker.log" -SimpleMatch "received $(2 * $N) from 2 producers" -Quiet)) {
        throw 'queue: wrong totals'
    }
    Check-Eaten 'p1', 'p2' "$dir/c1.out", "$dir/c2.out" $N

    Step "2. the tutorial's own queue: python/tutorial/s2_queue.py"
    # Not on Windows: the tutorial's queue program asks for the fork start method
    # (set_start_method('fork'), as the tutorial's Unix code ran), which Windows does not have.
    Write-Host "(the tutorial's queue needs fork, which Windows does not have: skipped)"

    Step '3. a consumer killed while it holds leased items: they go to another consumer'
    $q = "local:baozi-queue-kill-$PID"
    $M = $N * 10
    $picture = Join-Path $PSScriptRoot '../target/queue-timeline.svg'
    $broker = Start-Process -FilePath "$Bin/broker" -PassThru -NoNewWindow `
        -ArgumentList $q, '--producers', '1', '--timeline', $picture `
        -RedirectStandardError "$dir/broker2.log"
    $procs = @($broker)
    Wait-Ready "$dir/broker2.log" | Out-Null
    $doomed = Start-Process -FilePath "$Bin/consumer" -PassThru -NoNewWindow `
        -ArgumentList $q, '--name', 'doomed', '--eat', '5ms', '--prefetch', '8' `
        -RedirectStandardOutput "$dir/doomed.out"
    $procs += $doomed
    & "$Bin/producer" $q -n $M --name p1
    Check 'the producer'
    for ($i = 0; $i -lt 600; $i++) {
        if ((Test-Path "$dir/doomed.out") -and @(Get-Content "$dir/doomed.out").Count -ge 5) { break }
        Start-Sleep -Milliseconds 50 # poll for its fifth line
    }
    Write-Host "killing the consumer 'doomed' ($($doomed.Id))"
    Stop-Process -Id $doomed.Id -Force
    & "$Bin/consumer" $q --name survivor -q
    Check 'the surviving consumer'
    $broker.WaitForExit()
    Get-Content "$dir/broker2.log" | Write-Host
    if ($broker.ExitCode -ne 0) { throw "queue: the broker failed ($($broker.ExitCode))" }
    if (-not (Select-String -Path "$dir/broker2.log" -SimpleMatch "received $M from 1 producer (p1 $M); eaten $M by 2 consumers" -Quiet)) {
        throw 'queue: not every item was acknowledged'
    }
    if (-not (Select-String -Path $picture -SimpleMatch 'acknowledged once each' -Quiet)) {
        throw 'queue: the picture does not show each eaten once'
    }
    Write-Host "the run is drawn in $picture`: open it in a browser"
}
finally {
    foreach ($proc in $procs) { if (-not $proc.HasExited) { Stop-Process -Id $proc.Id -Force } }
    Remove-Item -Recurse $dir -ErrorAction SilentlyContinue
}

Step 'queue: every baozi eaten, also after a consumer was killed holding some'
