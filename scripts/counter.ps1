# Shared memory under a lock (section 4 of the tutorial): 20 worker processes decrement a
# count in a shared segment, under a lock that survives kill -9; then the same without the
# lock, which loses updates; then the steps by hand (init, two workers at once, show,
# clean). Builds once; fails unless the locked counts are exact. Twin: counter.sh.
$ErrorActionPreference = 'Stop'
Set-Location (Join-Path $PSScriptRoot '..')
. "$PSScriptRoot/lib.ps1"
Build-Workspace

Step '1. the tutorial: 20 worker processes, one decrement each, under the lock'
& "$Bin/counter" run --workers 20 --decrements 1 --value 20
Check 'counter run'

Step '2. 20 workers x 1000 decrements under the lock: exact, or it fails'
& "$Bin/counter" run --workers 20 --decrements 1000 --quiet
Check 'counter run'

Step "3. the tutorial's warning made visible: the same without the lock (--lock none)"
& "$Bin/counter" run --workers 20 --decrements 200 --lock none --quiet
Check 'counter run --lock none'

Step '4. by hand: init, two workers at once, show, clean'
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
