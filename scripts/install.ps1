# Puts the programs on PATH: builds them once in release, copies them into cargo's bin
# directory (%USERPROFILE%\.cargo\bin, already on PATH wherever rustup set cargo up), then
# writes their PowerShell completions, generated from the programs themselves
# (`PROGRAM --generate powershell DIR`). Man pages are for Unix: see install.sh. Twin: install.sh.
#
#   scripts/install.ps1                                # into %USERPROFILE%\.cargo\bin
#   $env:BUILD_DIR = 'target/debug'; scripts/install.ps1   # copy these builds, build nothing
$ErrorActionPreference = 'Stop'
Set-Location (Join-Path $PSScriptRoot '..')
$CargoHome = if ($env:CARGO_HOME) { $env:CARGO_HOME } else { Join-Path $HOME '.cargo' }
$BinDir = if ($env:BIN_DIR) { $env:BIN_DIR } else { Join-Path $CargoHome 'bin' }
$Programs = 'producer', 'consumer', 'broker', 'server', 'client', 'counter'

if ($env:BUILD_DIR) {
    $Build = $env:BUILD_DIR
} else {
    Write-Host 'install: building the release binaries (cargo build --release; a few minutes the first time)'
    cargo build --workspace --release --bins
    if ($LASTEXITCODE -ne 0) { throw 'install: the build failed' }
    $Build = 'target/release'
}
foreach ($p in $Programs) {
    if (-not (Test-Path (Join-Path $Build "$p.exe"))) {
        throw "install: $Build\$p.exe is not there (build it first: cargo build --workspace --bins)"
    }
}
New-Item -ItemType Directory -Force -Path $BinDir | Out-Null
foreach ($p in $Programs) {
    Copy-Item (Join-Path $Build "$p.exe") (Join-Path $BinDir "$p.exe") -Force
}
Write-Host "install: $($Programs -join ' ') -> $BinDir"

$Completions = Join-Path $CargoHome 'baozi-ipc-completions'
New-Item -ItemType Directory -Force -Path $Completions | Out-Null
foreach ($p in $Programs) {
    & (Join-Path $BinDir "$p.exe") --generate powershell $Completions 2>$null
    if ($LASTEXITCODE -ne 0) { throw "install: $p --generate failed" }
}
Write-Host "install: completions (of options; addresses complete in bash and zsh only) -> $Completions; to load them, add to your `$PROFILE:"
Write-Host "  Get-ChildItem '$Completions\*.ps1' | ForEach-Object { . `$_.FullName }"
if (-not (($env:PATH -split ';') -contains $BinDir)) {
    Write-Host "install: $BinDir is not on your PATH; add it in System Properties > Environment Variables"
}
