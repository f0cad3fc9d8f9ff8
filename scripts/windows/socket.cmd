@echo off
rem The Windows launch sequence of scripts\socket.ps1, in cmd, so that CI can run it under
rem wine (PowerShell cannot be installed there); scripts/test-windows.sh runs it.
rem Usage: socket.cmd BINDIR    (the folder with server.exe and client.exe)
rem cmd cannot read the ready lines easily, so the clients rely on --wait retries instead;
rem each reply is checked by piping it into find, whose exit code is the pipeline's.
rem (Under wine 8, findstr misreads pipes and `a | b || c` misjudges b's exit code.)
setlocal
set BIN=%~1
set /a PORT=20000 + %RANDOM% %% 20000
set NAME=baozi-socket-cmd-%RANDOM%

echo == 1. the server in the background, on tcp, local:NAME and udp at once
start "" /b "%BIN%\server.exe" tcp:127.0.0.1:%PORT% local:%NAME% udp:127.0.0.1:%PORT%

echo == 2. one message, as in the tutorial: client --message
"%BIN%\client.exe" --message "hello baozi" tcp:127.0.0.1:%PORT% | find "test: hello baozi"
if errorlevel 1 goto fail

echo == 3. lines from a file, over the local socket
rem (lines from a file: wine's cmd mishandles a pipe out of a parenthesised block)
set IN=%TEMP%\baozi-socket-cmd-%RANDOM%.txt
echo one> "%IN%"
echo two>> "%IN%"
echo three>> "%IN%"
"%BIN%\client.exe" local:%NAME% < "%IN%" | find "test: three"
if errorlevel 1 goto fail
del "%IN%"

echo == 4. a datagram over UDP
"%BIN%\client.exe" --message datagram udp:127.0.0.1:%PORT% | find "test: datagram"
if errorlevel 1 goto fail

echo == 5. 1000 round trips over TCP: client --count
"%BIN%\client.exe" --count 1000 tcp:127.0.0.1:%PORT% 2>&1 | find "1000 round trips"
if errorlevel 1 goto fail

echo == 6. stop the server
taskkill /f /im server.exe >nul
echo socket.cmd: every reply was right
exit /b 0

:fail
echo socket.cmd: FAILED
taskkill /f /im server.exe >nul
exit /b 1
