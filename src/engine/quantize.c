#include "engine/quantize.h"

#include "base/log.h"
#include "base/util.h"

#include <errno.h>
#include <fcntl.h>
#include <llama.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static const struct {
    const char *name;
    int ftype;
} types[] = {
    {"Q4_0", LLAMA_FTYPE_MOSTLY_Q4_0},     {"Q4_1", LLAMA_FTYPE_MOSTLY_Q4_1},
    {"Q5_0", LLAMA_FTYPE_MOSTLY_Q5_0},     {"Q5_1", LLAMA_FTYPE_MOSTLY_Q5_1},
    {"Q8_0", LLAMA_FTYPE_MOSTLY_Q8_0},     {"Q2_K", LLAMA_FTYPE_MOSTLY_Q2_K},
    {"Q3_K_S", LLAMA_FTYPE_MOSTLY_Q3_K_S}, {"Q3_K_M", LLAMA_FTYPE_MOSTLY_Q3_K_M},
    {"Q3_K_L", LLAMA_FTYPE_MOSTLY_Q3_K_L}, {"Q4_K_S", LLAMA_FTYPE_MOSTLY_Q4_K_S},
    {"Q4_K_M", LLAMA_FTYPE_MOSTLY_Q4_K_M}, {"Q5_K_S", LLAMA_FTYPE_MOSTLY_Q5_K_S},
    {"Q5_K_M", LLAMA_FTYPE_MOSTLY_Q5_K_M}, {"Q6_K", LLAMA_FTYPE_MOSTLY_Q6_K},
    {"F16", LLAMA_FTYPE_MOSTLY_F16},       {"BF16", LLAMA_FTYPE_MOSTLY_BF16},
};

int quantize_type(const char *name)
{
    for (size_t i = 0; name && i < ARRAY_LEN(types); i++)
        if (!strcasecmp(name, types[i].name))
            return types[i].ftype;
    return -1;
}

const char *quantize_type_name(const char *name)
{
    for (size_t i = 0; name && i < ARRAY_LEN(types); i++)
        if (!strcasecmp(name, types[i].name))
            return types[i].name;
    return NULL;
}

const char *quantize_ftype_name(int ftype)
{
    if (ftype == LLAMA_FTYPE_ALL_F32)
        return "F32";
    for (size_t i = 0; i < ARRAY_LEN(types); i++)
        if (types[i].ftype == ftype)
            return types[i].name;
    return NULL;
}

const char *quantize_type_list(void)
{
    return "Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K_S, Q3_K_M, Q3_K_L, Q4_K_S, Q4_K_M, Q5_K_S, "
           "Q5_K_M, Q6_K, F16, BF16";
}

/* libllama logs "[  12/ 201] name - [shape], type = f16, ..." per tensor: that is the progress. */
static void quantize_log(enum ggml_log_level level, const char *text, void *ud)
{
    (void)ud;
    int done, total;
    if (text[0] == '[' && sscanf(text, "[%d/%d]", &done, &total) == 2) {
        printf("progress %d %d\n", done, total);
        fflush(stdout);
    } else if (level == GGML_LOG_LEVEL_ERROR) {
        fprintf(stderr, "%s", text);
    }
}

int quantize_main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: hearth quantize SRC DST TYPE (used by hearth create -q)\n");
        return 2;
    }
    int ftype = quantize_type(argv[2]);
    if (ftype < 0) {
        fprintf(stderr, "unknown quantization type '%s' (expected one of %s)\n", argv[2],
                quantize_type_list());
        return 2;
    }
    llama_log_set(quantize_log, NULL);
    llama_backend_init();
    struct llama_model_quantize_params p = llama_model_quantize_default_params();
    p.ftype = (enum llama_ftype)ftype;
    p.allow_requantize = true; /* a Q8_0 source: the caller checked the source type */
    uint32_t rc = llama_model_quantize(argv[0], argv[1], &p);
    llama_backend_free();
    if (rc) {
        fprintf(stderr, "llama_model_quantize failed (%u)\n", rc);
        return 1;
    }
    return 0;
}

int quantize_run(const char *exe, const char *src, const char *dst, const char *type,
                 void (*progress)(void *ctx, int64_t done, int64_t total), void *ctx,
                 volatile int *cancel, struct err *e)
{
    int out[2], errp[2];
    if (pipe2(out, O_CLOEXEC))
        return err_set(e, ERR_IO, "pipe: %s", strerror(errno));
    if (pipe2(errp, O_CLOEXEC)) {
        close(out[0]);
        close(out[1]);
        return err_set(e, ERR_IO, "pipe: %s", strerror(errno));
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int err = errno;
        close(out[0]), close(out[1]), close(errp[0]), close(errp[1]);
        return err_set(e, ERR_IO, "fork: %s", strerror(err));
    }
    if (pid == 0) {
        /* The child dies with the thread that started it. That thread waits for it below, so
         * this fires only when the whole parent dies (kill -9 of the daemon): no quantize goes
         * on for nobody, writing a temporary file nobody will rename. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        dup2(out[1], 1);
        dup2(errp[1], 2);
        execl(exe, exe, "quantize", src, dst, type, (char *)NULL);
        /* Only async-signal-safe calls between fork and exec in a threaded parent. */
        static const char msg[] = "cannot run the hearth binary for quantizing\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        _exit(127);
    }
    close(out[1]);
    close(errp[1]);
    char line[256], errbuf[1024] = "";
    size_t ll = 0, el = 0;
    int open_fds = 2, killed = 0;
    while (open_fds > 0) {
        struct pollfd pf[2] = {{out[0], POLLIN, 0}, {errp[0], POLLIN, 0}};
        int n = poll(pf, 2, 200);
        if (cancel && *cancel && !killed) {
            kill(pid, SIGKILL);
            killed = 1;
        }
        if (n <= 0)
            continue;
        for (int i = 0; i < 2; i++) {
            if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char buf[4096];
            ssize_t r = read(pf[i].fd, buf, sizeof buf);
            if (r <= 0) {
                close(pf[i].fd);
                if (i == 0)
                    out[0] = -1;
                else
                    errp[0] = -1;
                open_fds--;
                continue;
            }
            if (i == 1) {
                /* Keep the tail of stderr for the message. */
                for (ssize_t k = 0; k < r; k++) {
                    if (el + 1 >= sizeof errbuf) {
                        memmove(errbuf, errbuf + 512, el - 512);
                        el -= 512;
                    }
                    errbuf[el++] = buf[k];
                }
                errbuf[el] = '\0';
                continue;
            }
            for (ssize_t k = 0; k < r; k++) {
                if (buf[k] != '\n') {
                    if (ll + 1 < sizeof line)
                        line[ll++] = buf[k];
                    continue;
                }
                line[ll] = '\0';
                ll = 0;
                long long done, total;
                if (progress && sscanf(line, "progress %lld %lld", &done, &total) == 2)
                    progress(ctx, done, total);
            }
        }
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    unlink(dst);
    /* The last non-empty line of stderr is the reason. */
    while (el && (errbuf[el - 1] == '\n' || errbuf[el - 1] == ' '))
        errbuf[--el] = '\0';
    char *last = strrchr(errbuf, '\n');
    const char *why = last ? last + 1 : errbuf;
    if (killed)
        return err_set(e, ERR_CANCELLED, "quantizing was cancelled");
    if (WIFSIGNALED(status))
        return err_set(e, ERR_BAD_MODEL, "quantizing crashed (signal %d: %s)%s%s", WTERMSIG(status),
                       strsignal(WTERMSIG(status)), *why ? ": " : "", why);
    return err_set(e, ERR_BAD_MODEL, "quantizing failed: %s", *why ? why : "no reason given");
}
