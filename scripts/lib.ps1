# Shared steps for the scenario scripts (dot-sourced, not run). Twin: lib.sh.
# $env:BAOZI_PROFILE = 'release' builds and runs optimised binaries; the default is debug,
# which shares its build with `cargo test`.

$Profile_ = if ($env:BAOZI_PROFILE) { $env:BAOZI_PROFILE } else { 'debug' }
$Bin = Join-Path 'target' $Profile_

# Builds every binary of the workspace once.
function Build-Workspace {
    if ($Profile_ -eq 'release') { cargo build --workspace --release --quiet }
    else { cargo build --workspace --quiet }
    if ($LASTEXITCODE -ne 0) { throw 'cargo build failed' }
}

# Prints a step heading.
function Step([string]$Text) { Write-Host "`n== $Text" }

# Fails the script when the last native command failed.
function Check([string]$What) {
    if ($LASTEXITCODE -ne 0) { throw "$What failed (exit $LASTEXITCODE)" }
}

# Waits until File has Count lines starting with "ready: " (a listener's fixed ready line;
# Count is 1 unless given, more for a program that listens on several addresses), polling
# for up to 30 s; returns the address from each.
function Wait-Ready([string]$File, [int]$Count = 1) {
    for ($i = 0; $i -lt 600; $i++) {
        if (Test-Path $File) {
            $lines = @(Select-String -Path $File -Pattern '^ready: (.*)')
            if ($lines.Count -ge $Count) {
                return $lines | Select-Object -First $Count |
                    ForEach-Object { $_.Matches[0].Groups[1].Value }
            }
        }
        Start-Sleep -Milliseconds 50 # poll for the ready line
    }
    Get-Content $File | Write-Host
    throw "no $Count ready line(s) in $File after 30 s"
}
