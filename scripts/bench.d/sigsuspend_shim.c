/* Work around valgrind <= 3.2x writing into the caller's sigset in
   PRE(sys_rt_sigsuspend) (VG_(sigdelset)(ARG1, VG_SIGVGKILL)): libdispatch
   passes a `static const sigset_t` that lives in .rodata -> valgrind SIGSEGV.
   Copy the mask into writable stack memory first. */
#define _GNU_SOURCE
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
int sigsuspend(const sigset_t *mask) {
    sigset_t copy;
    memcpy(&copy, mask, sizeof copy);
    return (int)syscall(SYS_rt_sigsuspend, &copy, (size_t)(_NSIG / 8));
}
