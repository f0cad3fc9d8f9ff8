# Runs the demo of every mechanism: each scenario script that exists, in tutorial order.
# Beside ours, the tutorial's own Python programs (python/tutorial/) where Python 3 is
# installed; without it each such step says so in one line: the demo needs no Python.
# Twin: demo.sh.
$ErrorActionPreference = 'Stop'
# Each scenario builds quietly; on a fresh clone that first build takes a while: say so,
# and show cargo's progress while it happens.
Write-Host 'demo: building the programs (cargo build; a minute or more the first time)'
Push-Location (Join-Path $PSScriptRoot '..')
if ($env:BAOZI_PROFILE -eq 'release') { cargo build --workspace --release } else { cargo build --workspace }
$built = $LASTEXITCODE
Pop-Location
if ($built -ne 0) { throw 'demo: the build failed' }
foreach ($scenario in 'pipe', 'queue', 'socket', 'counter', 'semaphore') {
    $script = Join-Path $PSScriptRoot "$scenario.ps1"
    if (Test-Path $script) {
        Write-Host "`n######## $scenario"
        & $script
    }
}
Write-Host "`ndemo: every scenario passed"
