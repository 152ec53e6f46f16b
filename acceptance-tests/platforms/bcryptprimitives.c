/*
 * A stand-in for Windows' bcryptprimitives.dll, for running the windows/amd64 provider under a
 * Wine that lacks it (Debian's Wine 8.0). Rust's standard library (1.78 and later) takes its
 * randomness from bcryptprimitives.dll!ProcessPrng on Windows 10 and later and imports it at
 * load time, so without this DLL the process exits (status 53) before main.
 *
 * Only for the platform check in scripts/platforms: it is placed next to the .exe in a
 * temporary directory and never shipped. ProcessPrng's contract (fill the buffer with random
 * bytes; documented to always return TRUE) is met with advapi32's SystemFunction036
 * (RtlGenRandom), which every Wine has and which draws on the host's random source.
 */
#include <windows.h>

/* advapi32's export; declared here because only <ntsecapi.h> names it (as RtlGenRandom). */
__declspec(dllimport) BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    /* RtlGenRandom takes a ULONG: fill larger requests in pieces. */
    while (length > 0) {
        ULONG chunk = length > 0x40000000 ? 0x40000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk)) {
            return FALSE;
        }
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved)
{
    (void)instance;
    (void)reason;
    (void)reserved;
    return TRUE;
}
