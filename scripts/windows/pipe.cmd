@echo off
rem The Windows launch sequence of scripts\pipe.ps1, in cmd, so that CI can run it under
rem wine (PowerShell cannot be installed there); scripts/test-windows.sh runs it.
rem Usage: pipe.cmd BINDIR    (the folder with producer.exe and consumer.exe)
setlocal
set BIN=%~1
set N=10

echo == 1. shell pipeline: producer stdio ^| consumer stdio
"%BIN%\producer.exe" stdio -n %N% | "%BIN%\consumer.exe" stdio --expect %N%
if errorlevel 1 exit /b 1

echo == 2. parent and child: producer --spawn-consumer
"%BIN%\producer.exe" --spawn-consumer -n %N% -- --name child --expect %N%
if errorlevel 1 exit /b 1

echo == 3. two unrelated processes: consumer -l local:NAME, then producer local:NAME
rem The producer retries until the consumer listens, and succeeds only on the consumer's
rem receipt for all N items.
set NAME=baozi-pipe-cmd-%RANDOM%
start "" /b "%BIN%\consumer.exe" -l local:%NAME% --expect %N% -q
"%BIN%\producer.exe" local:%NAME% -n %N%
if errorlevel 1 exit /b 1

echo pipe.cmd: all three flavours delivered %N% baozi each
