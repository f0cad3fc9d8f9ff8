@echo off
rem The Windows launch sequence of scripts\semaphore.ps1, in cmd, so that CI can run it under
rem wine (PowerShell cannot be installed there); scripts/test-windows.sh runs it.
rem Usage: semaphore.cmd BINDIR    (the folder with counter.exe)
rem Checks pipe output into find, whose exit code is the pipeline's (see socket.cmd).
setlocal
set BIN=%~1
set NAME=semaphore-cmd-%RANDOM%

echo == 1. the tutorial: 13 workers, 5 permits, each stays a random 0 to 300 ms
"%BIN%\counter.exe" semaphore --workers 13 --permits 5 --stay 0..300ms
if errorlevel 1 goto fail

echo == 2. a crash: the holder of the only permit is killed; the next one gets in
"%BIN%\counter.exe" init %NAME% --permits 1
if errorlevel 1 goto fail
start "" /b "%BIN%\counter.exe" enter %NAME% --stay 60s
rem Look until the holder is inside (at most 600 looks).
set /a TRIES=0
:wait_inside
"%BIN%\counter.exe" show %NAME% | find "(inside 1," >nul
if not errorlevel 1 goto inside
set /a TRIES+=1
if %TRIES% geq 600 goto fail
goto wait_inside
:inside
echo killing the holder
taskkill /f /im counter.exe >nul
"%BIN%\counter.exe" enter %NAME% --stay 100ms | find "came back from a holder that died inside"
if errorlevel 1 goto fail
"%BIN%\counter.exe" clean %NAME%
if errorlevel 1 goto fail

echo semaphore.cmd: never more than K inside, and the killed holder's permit came back
exit /b 0

:fail
echo semaphore.cmd: FAILED
taskkill /f /im counter.exe >nul 2>&1
"%BIN%\counter.exe" clean %NAME% >nul 2>&1
exit /b 1
