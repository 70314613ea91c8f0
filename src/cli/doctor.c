/* `hearth doctor`: what this machine gives hearth, and each problem found with a fix.
 *
 * Checks, in order: hearth's and libllama's versions, the CPU and its instruction sets, memory,
 * the GPUs ggml finds (and a GPU present to a CPU-only build), the model stores (where, how big,
 * whether writable, the disk space beside them), a running server, and whether the registries
 * `hearth pull` uses answer. Exit status 0 when nothing is wrong, 1 when a problem was found.
 */
#include "base/buf.h"
#include "base/util.h"
#include "cli/cli.h"
#include "engine/engine.h"
#include "engine/offload.h"
#include "net/client.h"
#include "store/layout.h"

#include <errno.h>
#include <ftw.h>
#include <ggml-backend.h>
#include <llama.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#ifndef HEARTH_VERSION
#define HEARTH_VERSION "0.0.0-dev"
#endif

#define GIB (1024.0 * 1024.0 * 1024.0)

static int problems;

static void section(const char *name)
{
    printf("\n%s\n", name);
}

static void ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void ok(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("  ok       ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
}

/* A problem and what to do about it. */
static void problem(const char *fix, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(const char *fix, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("  PROBLEM  ");
    vprintf(fmt, ap);
    printf("\n           fix: %s\n", fix);
    va_end(ap);
    problems++;
}

static void cpu(void)
{
    section("CPU");
    char model[256] = "unknown";
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "model name", 10)) {
                const char *c = strchr(line, ':');
                if (c) {
                    snprintf(model, sizeof model, "%s", c + 2);
                    model[strcspn(model, "\n")] = '\0';
                }
                break;
            }
        fclose(f);
    }
    ok("%s, %ld cores online", model, sysconf(_SC_NPROCESSORS_ONLN));
    const char *info = llama_print_system_info();
    ok("ggml: %s", info);
#if defined(__x86_64__)
    if (!strstr(info, "AVX2 = 1") && !strstr(info, "AVX2=1") && strstr(info, "AVX"))
        problem("models run several times slower without AVX2; use a machine that has it, or "
                "rebuild libllama for this one (scripts/deps.sh builds it for the machine it "
                "runs on)",
                "the CPU backend was built without AVX2");
#endif
}

static void memory(void)
{
    section("Memory");
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f) {
        ok("/proc/meminfo is not readable: memory not checked");
        return;
    }
    unsigned long long total = 0, avail = 0;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        sscanf(line, "MemTotal: %llu kB", &total);
        sscanf(line, "MemAvailable: %llu kB", &avail);
    }
    fclose(f);
    ok("%.1f GiB in all, %.1f GiB available", (double)total * 1024 / GIB,
       (double)avail * 1024 / GIB);
    if (avail && (double)avail * 1024 < 2 * GIB)
        problem("close other programs, or use a smaller quantization (Q4_K_M) and a smaller "
                "num_ctx; hearth answers 507 when a model cannot fit",
                "less than 2 GiB of memory is available: most models will not load");
}

static void gpus(void)
{
    section("GPUs");
    struct offload_gpu g[OFFLOAD_MAX_GPUS];
    int n = offload_gpus(g, OFFLOAD_MAX_GPUS);
    int cuda_backend = 0;
    for (size_t i = 0; i < ggml_backend_reg_count(); i++)
        if (!strcmp(ggml_backend_reg_name(ggml_backend_reg_get(i)), "CUDA"))
            cuda_backend = 1;
    for (int i = 0; i < n; i++)
        ok("%s: %s, %.1f GiB free of %.1f GiB", g[i].name, g[i].desc, (double)g[i].free / GIB,
           (double)g[i].total / GIB);
    if (n > 0)
        return;
    struct stat st;
    int nvidia = stat("/dev/nvidia0", &st) == 0 || stat("/proc/driver/nvidia/version", &st) == 0;
    if (nvidia && !cuda_backend)
        problem("build with CUDA: make CUDA=1 (scripts/deps.sh --cuda builds libllama with it)",
                "an NVIDIA GPU is present but this libllama has no CUDA backend: models run on "
                "the CPU");
    else if (nvidia)
        problem("check the driver (nvidia-smi) and CUDA_VISIBLE_DEVICES",
                "the CUDA backend is built but found no usable GPU");
    else
        ok("none found: models run on the CPU%s",
           cuda_backend ? " (the CUDA backend is built)" : "");
}

static unsigned long long walk_bytes, walk_files;

static int walk_add(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)path;
    (void)ftw;
    if (type == FTW_F) {
        walk_bytes += (unsigned long long)st->st_size;
        walk_files++;
    }
    return walk_files > 1000000 ? 1 : 0; /* enough to say "large" */
}

static void store_dir(const char *what, const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno == ENOENT)
            ok("%s: %s (not created yet)", what, dir);
        else
            problem("check the path and its permissions, or point the variable elsewhere",
                    "%s: %s: %s", what, dir, strerror(errno));
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        problem("point the variable at a folder, or remove the file", "%s: %s is not a folder",
                what, dir);
        return;
    }
    walk_bytes = walk_files = 0;
    nftw(dir, walk_add, 16, FTW_PHYS);
    char size[32];
    cli_human_size((double)walk_bytes, size, sizeof size);
    ok("%s: %s, %s in %llu files", what, dir, size, walk_files);
    if (access(dir, W_OK) != 0)
        problem("give your user write access to it (pull, create, cp and rm need it), or "
                "point the variable at a folder you own",
                "%s: %s is not writable", what, dir);
    struct statvfs vfs;
    if (statvfs(dir, &vfs) == 0) {
        double free_b = (double)vfs.f_bavail * (double)vfs.f_frsize;
        if (free_b < 5 * GIB)
            problem("free disk space, or move the store to a larger disk",
                    "%s: only %.1f GiB free on its disk; a 7B model needs about 4.5 GiB", what,
                    free_b / GIB);
    }
}

static void stores(void)
{
    section("Model stores");
    char dir[4096];
    layout_hf_hub(dir, sizeof dir);
    store_dir("Hugging Face cache", dir);
    layout_ollama_root(dir, sizeof dir);
    store_dir("Ollama store", dir);
    const char *md = getenv("HEARTH_MODELS_DIR");
    if (md && *md) {
        char *copy = xstrdup(md), *save = NULL;
        for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save))
            store_dir("models folder", d);
        free(copy);
    }
}

static void server(void)
{
    section("Server");
    char base[512];
    httpc_default_base(base, sizeof base);
    struct buf out;
    buf_init(&out, 1 << 16);
    struct httpc_opts o = {.method = "GET"};
    int status = 0;
    struct err e = {0};
    if (httpc_request(base, "/api/version", &o, &status, &out, &e) == 0 && status == 200)
        ok("a server answers at %s: %.*s", base, (int)out.len, out.data ? out.data : "");
    else
        ok("no server at %s (`hearth serve` starts one; `hearth run FILE.gguf` needs none)", base);
    buf_free(&out);
}

static void registry(const char *what, const char *var, const char *def, const char *path)
{
    const char *v = getenv(var);
    char url[1024];
    snprintf(url, sizeof url, "%s%s", v && *v ? v : def, path);
    int status = 0;
    struct err e = {0};
    if (httpc_probe(url, 5, &status, &e) == 0)
        ok("%s answers (%s: HTTP %d)", what, url, status);
    else
        problem("check the network, a proxy (HTTPS_PROXY), or the variable; models already on "
                "disk still work, only `hearth pull` needs this",
                "%s does not answer (%s): %s", what, url, e.msg);
}

int cmd_doctor(int argc, char **argv)
{
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("Usage: hearth doctor\n\n"
                   "Checks what this machine gives hearth: the CPU and its instruction sets,\n"
                   "memory, the GPUs ggml finds, the model stores (size, write access, free\n"
                   "disk), a running server, and whether the registries `hearth pull` uses\n"
                   "($HF_ENDPOINT, $HEARTH_OLLAMA_REGISTRY) answer. Each problem comes with a\n"
                   "fix. Exit status: 0 when nothing is wrong, 1 when a problem was found.\n");
            return 0;
        }
        cli_error("doctor takes no arguments (see hearth doctor --help)");
        return 2;
    }
    engine_init_logging();
    llama_backend_init();
    printf("hearth %s, libllama %s\n", HEARTH_VERSION, llama_version());
    cpu();
    memory();
    gpus();
    stores();
    server();
    section("Registries");
    registry("Hugging Face", "HF_ENDPOINT", "https://huggingface.co", "/api/models?limit=1");
    registry("Ollama's registry", "HEARTH_OLLAMA_REGISTRY", "https://registry.ollama.ai", "/v2/");
    llama_backend_free();
    printf("\n%d problem%s found\n", problems, problems == 1 ? "" : "s");
    return problems ? 1 : 0;
}
