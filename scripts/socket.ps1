# The socket (section 3 of the tutorial): an echo server in the background on TCP, a local
# socket and UDP at once, then a few clients (one message, lines from a pipe, a datagram, a
# latency run, nc and socat when installed, the tutorial's own client.py), every reply
# checked; our client against the tutorial's own server.py; then the server is stopped and
# its exit checked. The tutorial's programs (python/tutorial/) run when Python 3 is
# installed. Twin: socket.sh.
$ErrorActionPreference = 'Stop'
Set-Location (Join-Path $PSScriptRoot '..')
. "$PSScriptRoot/lib.ps1"
Build-Workspace

# Checks that what a command printed (its lines) is exactly Want, and shows it.
function Expect-Output($Got, [string]$Want) {
    $text = @($Got) -join "`n"
    if ($text -ne $Want) { throw "socket: expected '$Want', got '$text'" }
    Write-Host $text
}

Step '1. the server in the background, on tcp:127.0.0.1:0, local:NAME and udp:127.0.0.1:0 at once'
$log = New-TemporaryFile
$server = Start-Process -FilePath "$Bin/server" -PassThru -NoNewWindow `
    -ArgumentList 'tcp:127.0.0.1:0', "local:baozi-socket-$PID", 'udp:127.0.0.1:0' `
    -RedirectStandardError $log
try {
    $tcp, $local, $udp = Wait-Ready $log 3
    Write-Host "listening on $tcp, $local and $udp"

    Step '2. one message, as in the tutorial: client --message'
    $out = & "$Bin/client" --message 'hello baozi' $tcp
    Check 'client --message'
    Expect-Output $out 'test: hello baozi'

    Step '3. lines from a pipe, over the local socket'
    $out = 'one', 'two', 'three' | & "$Bin/client" $local
    Check 'client on a pipe'
    Expect-Output $out "test: one`ntest: two`ntest: three"

    Step '4. a datagram over UDP'
    $out = & "$Bin/client" --message datagram $udp
    Check 'client over udp'
    Expect-Output $out 'test: datagram'

    Step '5. 1000 round trips over TCP: client --count'
    $out = & "$Bin/client" --count 1000 $tcp
    Check 'client --count'
    Write-Host $out
    if ("$out" -notmatch '1000 round trips.*median.*p99') { throw 'socket: no latency summary' }

    Step '6. other programs as clients: OpenBSD nc and socat'
    $hostport = $tcp.Substring(4)
    $port = $hostport.Substring($hostport.LastIndexOf(':') + 1)
    $hostname = $hostport.Substring(0, $hostport.LastIndexOf(':'))
    if ((Get-Command nc -ErrorAction SilentlyContinue) -and ((nc -h 2>&1 | Out-String) -match 'OpenBSD')) {
        $out = 'from nc' | nc -N $hostname $port
        Expect-Output $out 'test: from nc'
    } else { Write-Host '(OpenBSD nc is not installed: skipped)' }
    if (Get-Command socat -ErrorAction SilentlyContinue) {
        $out = 'from socat' | socat -t 10 - "TCP:$hostport"
        Expect-Output $out 'test: from socat'
    } else { Write-Host '(socat is not installed: skipped)' }

    Step "7. the tutorial's own client.py (python/tutorial/s3_client.py): one send without a newline"
    # It sends "hello" with no newline and waits in one recv(1024); ours answers what came
    # before the pause (server --pause, 200 ms), as the tutorial's server answers one recv.
    $py = Find-Python
    if ($py) {
        $out = 'hello' | & $py python/tutorial/s3_client.py $hostname $port
        Check "the tutorial's client.py"
        Expect-Output $out 'test: hello'
    }

    Step "8. our client against the tutorial's own server.py (python/tutorial/s3_server.py)"
    $py = Find-Python
    if ($py) {
        # (Single quotes inside: older PowerShell drops double quotes in a native argument.)
        $theirPort = & $py -c 'import socket; s = socket.socket(); s.bind((''127.0.0.1'', 0)); print(s.getsockname()[1])'
        Check 'a free port'
        $theirs = Start-Process -FilePath $py -PassThru -NoNewWindow `
            -ArgumentList 'python/tutorial/s3_server.py', $theirPort
        try {
            # It prints no ready line: --wait retries the connection until it listens.
            $out = & "$Bin/client" --wait 30s --message hello "tcp:127.0.0.1:$theirPort"
            Check 'client against the tutorial''s server.py'
            Expect-Output $out 'test: hello'
        }
        finally {
            if (-not $theirs.HasExited) { Stop-Process -Id $theirs.Id }
        }
    }
}
finally {
    Step '9. stop the server (Stop-Process; Ctrl-C in a console prints totals and exits 130)'
    if (-not $server.HasExited) { Stop-Process -Id $server.Id }
    $server.WaitForExit()
    Get-Content $log | Write-Host
    Remove-Item $log
}
if (-not $server.HasExited) { throw 'socket: the server is still running' }

Step 'socket: every reply was right'
