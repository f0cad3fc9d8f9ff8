# Shared memory under a lock (section 4 of the tutorial): 20 worker processes decrement a
# count in a shared segment, under a lock that survives kill -9; then the same without the
# lock, which loses updates; beside each, the tutorial's own program
# (python/tutorial/s4_shared_memory.py, when Python 3 is installed) with the same numbers;
# then the steps by hand (init, two workers at once, show, clean). Builds once; fails unless
# the locked counts are exact, ours and the tutorial's. Twin: counter.sh.
$ErrorActionPreference = 'Stop'
Set-Location (Join-Path $PSScriptRoot '..')
. "$PSScriptRoot/lib.ps1"
Build-Workspace

Step '1. the tutorial: 20 worker processes, one decrement each, under the lock'
& "$Bin/counter" run --workers 20 --decrements 1 --value 20
Check 'counter run'

Step "2. the tutorial's own program beside it: python/tutorial/s4_shared_memory.py"
# The same numbers: 20 processes, one decrement each under a multiprocessing.Lock, 20 down
# to 0. Its count lives in a Manager process's dict, each decrement two messages to it; ours
# in a shared segment the workers map. (Its lines are Chinese: matched by code point.)
$py = Find-Python
if ($py) {
    $out = @(& $py python/tutorial/s4_shared_memory.py)
    Check "the tutorial's counter"
    $out | Write-Host
    # Each worker prints the value before its decrement: 20, 19, ..., 1, each once.
    $seen = @($out | ForEach-Object {
            if ($_ -match '^\u8BA1\u6570\u5668\u51CF\u4E00,\u5F53\u524D\u4E3A:(\d+)$') { [int]$Matches[1] }
        } | Sort-Object)
    if (($seen -join ' ') -ne ((1..20) -join ' ')) { throw "counter: the tutorial's workers did not count 20 to 1" }
    if ($out[-1] -ne "{'count': 0}") { throw "counter: the tutorial's count did not end at 0" }
}

Step '3. 20 workers x 1000 decrements under the lock: exact, or it fails'
& "$Bin/counter" run --workers 20 --decrements 1000 --quiet
Check 'counter run'

Step "4. the tutorial's warning made visible: the same without the lock (--lock none)"
& "$Bin/counter" run --workers 20 --decrements 200 --lock none --quiet
Check 'counter run --lock none'

Step "5. and the tutorial's program without its lock: 20 x 200 decrements from 4000 (--no-lock)"
$py = Find-Python
if ($py) {
    $out = @(& $py python/tutorial/s4_shared_memory.py --no-lock --decrements 200)
    Check "the tutorial's counter --no-lock"
    $out | Write-Host
    if ($out[-1] -notmatch "^\{'count': (-?\d+)\}$") { throw "counter: the tutorial's program printed no count" }
    # Losing updates is likely, not certain: say so either way; only a missing count fails.
    $left = [int]$Matches[1]
    if ($left -ne 0) { Write-Host "the count should be 0: $left of the 4000 decrements were lost without the lock" }
    else { Write-Host '(no update was lost this time: without the lock that is luck, not a guarantee)' }
}

Step '6. by hand: init, two workers at once, show, clean'
$name = "counter-demo-$PID"
try {
    & "$Bin/counter" init $name --value 100
    Check 'counter init'
    $first = Start-Process -FilePath "$Bin/counter" -PassThru -NoNewWindow `
        -ArgumentList 'work', $name, '--decrements', '50', '--pause', '1ms', '--quiet'
    & "$Bin/counter" work $name --decrements 50 --pause 1ms --quiet
    Check 'counter work'
    $first.WaitForExit()
    if ($first.ExitCode -ne 0) { throw "counter: the first worker failed ($($first.ExitCode))" }
    $shown = & "$Bin/counter" show $name
    Check 'counter show'
    $shown | Write-Host
    if (-not ($shown -contains 'expected: 0 (exact)')) { throw 'counter: the count is not exact' }
    & "$Bin/counter" clean $name
    Check 'counter clean'
}
finally {
    # Only if something is left: a failed clean would write to stderr.
    if (Test-Path (Join-Path ([IO.Path]::GetTempPath()) "baozi-$name")) {
        & "$Bin/counter" clean $name | Out-Null
    }
}

Step 'counter: every count under the lock was exact'
