#include "engine/client.h"

#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

struct worker_proc {
    int fd;
    pid_t pid;
    int reaped;
    int status;
};

int worker_spawn(const char *exe, struct worker_proc **out, struct err *e)
{
    char self[4096];
    if (!exe) {
        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n < 0)
            return err_set(e, ERR_IO, "cannot find the hearth binary: %s", strerror(errno));
        self[n] = '\0';
        exe = self;
    }
    /* The worker's environment, built here: between fork and exec only async-signal-safe calls.
     * GGML_NO_BACKTRACE: ggml's crash handler attaches gdb to print a backtrace (slow, and noise
     * for users). GLIBC_TUNABLES=glibc.malloc.hugetlb=1: glibc asks for transparent huge pages
     * on its large allocations, which libllama's KV cache and repacked weights are; clearing a
     * 1 GiB KV cache page by page was most of a model load (4.2-4.8 s for a 1B Q4_K_M with 4 x
     * 8192 tokens of cache on a 2-core VM, 0.4-2.8 s with it). A user's own setting of either
     * wins. */
    extern char **environ;
    size_t n_env = 0;
    while (environ[n_env])
        n_env++;
    char **envp = xcalloc(n_env + 3, sizeof *envp);
    int have_bt = 0, have_tun = 0;
    for (size_t i = 0; i < n_env; i++) {
        envp[i] = environ[i];
        have_bt |= !strncmp(environ[i], "GGML_NO_BACKTRACE=", 18);
        have_tun |= !strncmp(environ[i], "GLIBC_TUNABLES=", 15);
    }
    if (!have_bt)
        envp[n_env++] = (char *)"GGML_NO_BACKTRACE=1";
    if (!have_tun)
        envp[n_env++] = (char *)"GLIBC_TUNABLES=glibc.malloc.hugetlb=1";
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        free(envp);
        return err_set(e, ERR_IO, "socketpair: %s", strerror(errno));
    }
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        close(sv[0]);
        close(sv[1]);
        free(envp);
        return err_set(e, ERR_IO, "fork: %s", strerror(err));
    }
    if (pid == 0) {
        /* dup2 clears close-on-exec on fd 3; every other descriptor we hold is CLOEXEC or
         * stdio. */
        if (dup2(sv[1], 3) < 0)
            _exit(127);
        /* stdout belongs to the parent's output (generated text, JSON): anything a library
         * prints in the worker goes to stderr instead. */
        dup2(STDERR_FILENO, STDOUT_FILENO);
        char *argv[] = {(char *)"hearth", (char *)"worker", (char *)"--fd", (char *)"3", NULL};
        execve(exe, argv, envp);
        _exit(127);
    }
    free(envp);
    close(sv[1]);
    struct worker_proc *w = xcalloc(1, sizeof *w);
    w->fd = sv[0];
    w->pid = pid;
    *out = w;
    return 0;
}

int worker_death(struct worker_proc *w, struct err *e)
{
    if (!w->reaped) {
        /* EOF arrives a moment before the exit status; wait for it briefly. */
        for (int i = 0; i < 200 && !w->reaped; i++) {
            pid_t r = waitpid(w->pid, &w->status, WNOHANG);
            if (r == w->pid)
                w->reaped = 1;
            else
                usleep(10000);
        }
    }
    /* Users read these in API errors: "model runner crashed", as Ollama says it, and how. */
    if (!w->reaped)
        err_set(e, ERR_WORKER_DIED, "model runner crashed (it closed its connection)");
    else if (WIFSIGNALED(w->status))
        err_set(e, ERR_WORKER_DIED, "model runner crashed (killed by signal %d: %s)",
                WTERMSIG(w->status), strsignal(WTERMSIG(w->status)));
    else if (WIFEXITED(w->status) && WEXITSTATUS(w->status) == 127)
        err_set(e, ERR_WORKER_DIED, "model runner could not be started (exit status 127)");
    else
        err_set(e, ERR_WORKER_DIED, "model runner crashed (exit status %d)",
                WIFEXITED(w->status) ? WEXITSTATUS(w->status) : -1);
    return ERR_WORKER_DIED;
}

int worker_send(struct worker_proc *w, const struct proto_msg *m, struct err *e)
{
    int rc = proto_send(w->fd, m, e);
    if (rc == ERR_WORKER_DIED)
        worker_death(w, e);
    return rc;
}

int worker_recv(struct worker_proc *w, struct proto_msg *m, struct err *e)
{
    int rc = proto_recv(w->fd, m, e);
    if (rc == ERR_WORKER_DIED)
        worker_death(w, e);
    return rc;
}

int worker_load(struct worker_proc *w, const char *path, const struct load_params *lp,
                struct model_info *info, struct err *e)
{
    return worker_load_timeout(w, path, lp, 0, info, e);
}

int worker_load_timeout(struct worker_proc *w, const char *path, const struct load_params *lp,
                        int64_t timeout_ms, struct model_info *info, struct err *e)
{
    struct proto_msg m;
    proto_msg_init(&m, PROTO_LOAD);
    m.path = (char *)path;
    m.load = *lp;
    int rc = worker_send(w, &m, e);
    if (rc)
        return rc;
    if (timeout_ms > 0) {
        int64_t deadline = now_us() / 1000 + timeout_ms;
        for (;;) {
            int64_t left = deadline - now_us() / 1000;
            struct pollfd p = {.fd = w->fd, .events = POLLIN};
            int n = left > 0 ? poll(&p, 1, left > 1000 ? 1000 : (int)left) : 0;
            if (n > 0)
                break;
            if (n < 0 && errno != EINTR)
                return err_set(e, ERR_IO, "poll: %s", strerror(errno));
            if (n == 0 && left <= 0) {
                kill(w->pid, SIGKILL);
                return err_set(e, ERR_UNAVAILABLE,
                               "the model did not load within %g s (HEARTH_LOAD_TIMEOUT); its "
                               "worker was stopped",
                               (double)timeout_ms / 1000);
            }
        }
    }
    struct proto_msg r;
    rc = worker_recv(w, &r, e);
    if (rc) {
        proto_msg_free(&r);
        return rc;
    }
    if (r.type == PROTO_ERROR) {
        rc = err_set(e, r.code ? r.code : ERR_INTERNAL, "%s", r.message ? r.message : "error");
    } else if (r.type != PROTO_LOADED) {
        rc = err_set(e, ERR_PROTOCOL, "worker answered LOAD with message type %d", (int)r.type);
    } else {
        *info = r.info;
        memset(&r.info, 0, sizeof r.info);
    }
    proto_msg_free(&r);
    return rc;
}

int worker_fd(const struct worker_proc *w)
{
    return w->fd;
}

pid_t worker_pid(const struct worker_proc *w)
{
    return w->pid;
}

void worker_free(struct worker_proc *w)
{
    if (!w)
        return;
    close(w->fd);
    if (!w->reaped) {
        /* Up to ten seconds: a worker saves its prompt cache on the way out. */
        for (int i = 0; i < 1000; i++) {
            if (waitpid(w->pid, &w->status, WNOHANG) == w->pid) {
                w->reaped = 1;
                break;
            }
            usleep(10000);
        }
        if (!w->reaped) {
            kill(w->pid, SIGKILL);
            waitpid(w->pid, &w->status, 0);
        }
    }
    free(w);
}
