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

# The tutorial's own programs (python/tutorial/) run beside ours where Python 3 is
# installed; without it, a step that runs one says so in one line and is skipped: the demo
# needs no Python. Returns the Python 3 to run, or $null. Usage:
# `$py = Find-Python; if ($py) { & $py ... }`. (Twin of lib.sh's have_python.)
function Find-Python {
    foreach ($name in 'python3', 'python', 'py') {
        $cmd = Get-Command $name -CommandType Application -ErrorAction SilentlyContinue |
            Select-Object -First 1
        if (-not $cmd) { continue }
        # Windows' own "python" may be the Store's stub, which only says how to install it.
        try { $major = & $cmd.Source -c 'import sys; print(sys.version_info[0])' 2>$null }
        catch { $major = $null }
        if ($LASTEXITCODE -eq 0 -and "$major" -eq '3') {
            # The tutorial prints Chinese: UTF-8 both ways, whatever the console's code page.
            $env:PYTHONUTF8 = '1'
            try { [Console]::OutputEncoding = [Text.Encoding]::UTF8 } catch { }
            return $cmd.Source
        }
    }
    Write-Host "(python3 is not installed: the tutorial's program is skipped)"
    return $null
}
