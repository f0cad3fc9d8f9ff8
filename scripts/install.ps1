# Puts the programs on PATH: builds them once in release, copies them into cargo's bin
# directory (%USERPROFILE%\.cargo\bin, already on PATH wherever rustup set cargo up), then
# writes their PowerShell completions, generated from the programs themselves
# (`PROGRAM --generate powershell DIR`). Man pages are for Unix: see install.sh. Twin: install.sh.
$ErrorActionPreference = 'Stop'
Set-Location (Join-Path $PSScriptRoot '..')
$CargoHome = if ($env:CARGO_HOME) { $env:CARGO_HOME } else { Join-Path $HOME '.cargo' }
$BinDir = if ($env:BIN_DIR) { $env:BIN_DIR } else { Join-Path $CargoHome 'bin' }
$Programs = 'producer', 'consumer', 'broker', 'server', 'client', 'counter'
$Documented = $Programs # every one writes its completions

Write-Host 'install: building the release binaries (cargo build --release; a few minutes the first time)'
cargo build --workspace --release --bins
if ($LASTEXITCODE -ne 0) { throw 'install: the build failed' }
New-Item -ItemType Directory -Force -Path $BinDir | Out-Null
foreach ($p in $Programs) {
    Copy-Item "target/release/$p.exe" (Join-Path $BinDir "$p.exe") -Force
}
Write-Host "install: $($Programs -join ' ') -> $BinDir"

$Completions = Join-Path $CargoHome 'baozi-ipc-completions'
New-Item -ItemType Directory -Force -Path $Completions | Out-Null
foreach ($p in $Documented) {
    & (Join-Path $BinDir "$p.exe") --generate powershell $Completions 2>$null
    if ($LASTEXITCODE -ne 0) { throw "install: $p --generate failed" }
}
Write-Host "install: completions -> $Completions; to load them, add to your `$PROFILE:"
Write-Host "  Get-ChildItem '$Completions\*.ps1' | ForEach-Object { . `$_.FullName }"
if (-not (($env:PATH -split ';') -contains $BinDir)) {
    Write-Host "install: $BinDir is not on your PATH; add it in System Properties > Environment Variables"
}
