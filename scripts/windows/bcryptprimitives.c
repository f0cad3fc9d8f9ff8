/*
 * A stand-in for bcryptprimitives.dll, for running our .exe files under wine 8.0 only.
 *
 * Rust's std (since 1.78) takes its random numbers from ProcessPrng in
 * bcryptprimitives.dll; wine 8.0 has no such DLL, so every Rust program fails to start
 * ("bcryptprimitives.dll not found", exit 53). This file provides that one function on top
 * of BCryptGenRandom, which wine has. Real Windows has the real DLL and never loads this.
 *
 * Built by scripts/test-windows.sh:
 *   x86_64-w64-mingw32-gcc -shared -O2 -o bcryptprimitives.dll bcryptprimitives.c -lbcrypt
 */
#include <windows.h>
#include <bcrypt.h>

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        /* BCryptGenRandom takes a ULONG length: feed it chunks under 4 GiB. */
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
