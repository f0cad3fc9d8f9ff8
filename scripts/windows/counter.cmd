@echo off
rem The Windows launch sequence of scripts\counter.ps1, in cmd, so that CI can run it under
rem wine (PowerShell cannot be installed there); scripts/test-windows.sh runs it.
rem Usage: counter.cmd BINDIR    (the folder with counter.exe)
rem Checks pipe output into find, whose exit code is the pipeline's (see socket.cmd).
setlocal
set BIN=%~1
set NAME=counter-cmd-%RANDOM%

echo == 1. the tutorial: 20 worker processes, one decrement each, under the lock
"%BIN%\counter.exe" run --workers 20 --decrements 1 --value 20
if errorlevel 1 goto fail

echo == 2. 20 workers x 1000 decrements under the lock: exact, or it fails
"%BIN%\counter.exe" run --workers 20 --decrements 1000 --quiet
if errorlevel 1 goto fail

echo == 3. the tutorial's warning made visible: the same without the lock (--lock none)
"%BIN%\counter.exe" run --workers 20 --decrements 200 --lock none --quiet
if errorlevel 1 goto fail

echo == 4. by hand: init, two workers at once, show, clean
"%BIN%\counter.exe" init %NAME% --value 100
if errorlevel 1 goto fail
start "" /b "%BIN%\counter.exe" work %NAME% --decrements 50 --pause 1ms --quiet
"%BIN%\counter.exe" work %NAME% --decrements 50 --pause 1ms --quiet
if errorlevel 1 goto fail
rem The background worker may still be running: show until it has finished (at most 600 looks).
set /a TRIES=0
:wait_exact
"%BIN%\counter.exe" show %NAME% | find "completed: 100 " >nul
if not errorlevel 1 goto exact
set /a TRIES+=1
if %TRIES% geq 600 goto fail
goto wait_exact
:exact
"%BIN%\counter.exe" show %NAME% | find "expected: 0 (exact)"
if errorlevel 1 goto fail
"%BIN%\counter.exe" clean %NAME%
if errorlevel 1 goto fail

echo counter.cmd: every count under the lock was exact
exit /b 0

:fail
echo counter.cmd: FAILED
"%BIN%\counter.exe" clean %NAME% >nul 2>&1
exit /b 1
