# Runs the demo of every mechanism: each scenario script that exists, in tutorial order.
# Twin: demo.sh.
$ErrorActionPreference = 'Stop'
foreach ($scenario in 'pipe', 'queue', 'socket', 'counter', 'semaphore') {
    $script = Join-Path $PSScriptRoot "$scenario.ps1"
    if (Test-Path $script) {
        Write-Host "`n######## $scenario"
        & $script
    }
}
Write-Host "`ndemo: every scenario passed"
