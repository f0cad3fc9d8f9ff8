@echo off
rem The Windows launch sequence of scripts\queue.ps1, in cmd, so that CI can run it under
rem wine (PowerShell cannot be installed there); scripts/test-windows.sh runs it.
rem Usage: queue.cmd BINDIR    (the folder with broker.exe, producer.exe and consumer.exe)
rem cmd cannot read the ready lines easily, so clients rely on --wait retries instead; each
rem check pipes output into find, whose exit code is the pipeline's (see socket.cmd).
setlocal
set BIN=%~1
set N=10
set Q=local:baozi-queue-cmd-%RANDOM%
set OUT=%TEMP%\baozi-queue-cmd-%RANDOM%
mkdir "%OUT%"

echo == 1. the broker, two consumers, two producers (random pauses, as in the tutorial)
start "" /b cmd /c ""%BIN%\broker.exe" %Q% --producers 2 --timeline "%OUT%\queue.svg" 2> "%OUT%\broker.log""
start "" /b cmd /c ""%BIN%\consumer.exe" %Q% --name c1 --eat 0..20ms --prefetch 1 > "%OUT%\c1.out""
start "" /b cmd /c ""%BIN%\consumer.exe" %Q% --name c2 --eat 0..20ms --prefetch 1 > "%OUT%\c2.out""
start "" /b "%BIN%\producer.exe" %Q% --name p1 -n %N% --delay 0..20ms
"%BIN%\producer.exe" %Q% --name p2 -n %N% --delay 0..20ms
if errorlevel 1 goto fail
rem The broker ends once both producers ended and every item is acknowledged: wait for its
rem last line, after its totals: the timeline drawn (at most 600 looks).
set /a TRIES=0
:wait_totals
find "timeline drawn in" "%OUT%\broker.log" >nul 2>&1
if not errorlevel 1 goto totals
set /a TRIES+=1
if %TRIES% geq 600 goto fail
"%BIN%\broker.exe" --status %Q% --wait 0 >nul 2>&1
goto wait_totals
:totals
type "%OUT%\broker.log"
find "totals: received 20 from 2 producers" "%OUT%\broker.log" >nul
if errorlevel 1 goto fail
find "dead 0" "%OUT%\broker.log" >nul
if errorlevel 1 goto fail
rem (How many consumers ate depends on how fast wine started them: not checked.)
find "20 baozi eaten by" "%OUT%\queue.svg" >nul
if errorlevel 1 goto fail
find "acknowledged once each" "%OUT%\queue.svg" >nul
if errorlevel 1 goto fail

echo == 2. the live numbers of a broker serving until stopped: broker --status
start "" /b "%BIN%\broker.exe" %Q%-status
"%BIN%\producer.exe" %Q%-status -n 5
if errorlevel 1 goto fail
"%BIN%\broker.exe" --status %Q%-status | find "queued 5 (capacity 10000)"
if errorlevel 1 goto fail
taskkill /f /im broker.exe >nul

echo == 3. a consumer killed while it holds leased items: they go to another consumer
set K=%Q%-kill
start "" /b cmd /c ""%BIN%\broker.exe" %K% --producers 1 2> "%OUT%\broker3.log""
start "" /b "%BIN%\consumer.exe" %K% --name doomed --eat 50ms --prefetch 8 -q
"%BIN%\producer.exe" %K% -n 100 --name p1
if errorlevel 1 goto fail
set /a TRIES=0
:wait_leased
"%BIN%\broker.exe" --status %K% | findstr /r /c:"leased [1-9]" >nul
if not errorlevel 1 goto leased
set /a TRIES+=1
if %TRIES% geq 600 goto fail
goto wait_leased
:leased
echo killing the consumer 'doomed'
taskkill /f /im consumer.exe >nul
"%BIN%\consumer.exe" %K% --name survivor -q
if errorlevel 1 goto fail
set /a TRIES=0
:wait_totals3
find "received 100 from 1 producer (p1 100); eaten 100 by 2 consumers" "%OUT%\broker3.log" >nul 2>&1
if not errorlevel 1 goto totals3
set /a TRIES+=1
if %TRIES% geq 600 goto fail
"%BIN%\broker.exe" --status %K% --wait 0 >nul 2>&1
goto wait_totals3
:totals3
type "%OUT%\broker3.log"
find "given back for redelivery" "%OUT%\broker3.log" >nul
if errorlevel 1 goto fail

echo queue.cmd: every baozi eaten, also after a consumer was killed holding some
rmdir /s /q "%OUT%"
exit /b 0

:fail
echo queue.cmd: FAILED
taskkill /f /im broker.exe >nul 2>&1
taskkill /f /im consumer.exe >nul 2>&1
exit /b 1
