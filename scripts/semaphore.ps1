# The semaphore (section 5 of the tutorial): 13 worker processes, 5 permits, at most 5
# inside at once, short random stays; then by hand a permit whose holder is killed
# (TerminateProcess, Windows' kill -9) and comes back to a waiting worker. Builds once;
# fails if more than K were ever inside or the permit stays lost. Twin: semaphore.sh.
$ErrorActionPreference = 'Stop'
Set-Location (Join-Path $PSScriptRoot '..')
. "$PSScriptRoot/lib.ps1"
Build-Workspace

Step '1. the tutorial: 13 workers, 5 permits, each stays a random 0 to 300 ms'
& "$Bin/counter" semaphore --workers 13 --permits 5 --stay 0..300ms
Check 'counter semaphore'

Step '2. a crash: the holder of the only permit is killed; the waiter gets in'
$name = "semaphore-demo-$PID"
$holderLog = New-TemporaryFile
$waiterLog = New-TemporaryFile
$holder = $null

# Waits until File has a line containing Text, polling for up to 30 s.
function Wait-Line([string]$File, [string]$Text) {
    for ($i = 0; $i -lt 600; $i++) {
        if (Select-String -Path $File -SimpleMatch $Text -Quiet) { return }
        Start-Sleep -Milliseconds 50 # poll for the line
    }
    Get-Content $File | Write-Host
    throw "no line with '$Text' in $File after 30 s"
}

try {
    & "$Bin/counter" init $name --permits 1
    Check 'counter init'
    $holder = Start-Process -FilePath "$Bin/counter" -PassThru -NoNewWindow `
        -ArgumentList 'enter', $name, '--stay', '60s' -RedirectStandardOutput $holderLog
    Wait-Line $holderLog 'enters with permit'
    Get-Content $holderLog | Write-Host
    $waiter = Start-Process -FilePath "$Bin/counter" -PassThru -NoNewWindow `
        -ArgumentList 'enter', $name, '--stay', '100ms' -RedirectStandardOutput $waiterLog
    Wait-Line $waiterLog 'waits for a permit'
    Write-Host "killing $($holder.Id) (the holder)"
    Stop-Process -Id $holder.Id -Force
    $waiter.WaitForExit()
    Get-Content $waiterLog | Write-Host
    if ($waiter.ExitCode -ne 0) { throw "semaphore: the waiter failed ($($waiter.ExitCode))" }
    if (-not (Select-String -Path $waiterLog -SimpleMatch 'came back from a holder that died inside' -Quiet)) {
        throw 'semaphore: the killed holder''s permit did not come back'
    }
    & "$Bin/counter" show $name
    Check 'counter show'
    & "$Bin/counter" clean $name
    Check 'counter clean'
}
finally {
    if ($holder -and -not $holder.HasExited) { Stop-Process -Id $holder.Id -Force }
    # Only if something is left: a failed clean would write to stderr.
    if (Test-Path (Join-Path ([IO.Path]::GetTempPath()) "baozi-$name")) {
        & "$Bin/counter" clean $name | Out-Null
    }
    Remove-Item $holderLog, $waiterLog -ErrorAction SilentlyContinue
}

Step 'semaphore: never more than K inside, and the killed holder''s permit came back'
