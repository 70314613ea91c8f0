/* The keys a presets file may hold: llama-server's argument names (long, short, LLAMA_ARG_*),
 * hearth's params table and Ollama's option names, and the keys that describe a model. */
#include "store/preset_int.h"

#include <stdlib.h>
#include <string.h>

/* clang-format off */
/* Spellings that params_find does not already know (short forms, environment variables,
 * negations, values that need translating). Names that differ from a table name or alias only
 * by '-' versus '_' (top-k, repeat-last-n, dry-base...) are found through params_find. */
static const struct preset_key keys[] = {
    {"c", PKEY_PARAM, "num_ctx"},
    {"LLAMA_ARG_CTX_SIZE", PKEY_PARAM, "num_ctx"},
    {"n", PKEY_PARAM, "num_predict"},
    {"predict", PKEY_PARAM, "num_predict"},
    {"LLAMA_ARG_N_PREDICT", PKEY_PARAM, "num_predict"},
    {"b", PKEY_PARAM, "num_batch"},
    {"LLAMA_ARG_BATCH", PKEY_PARAM, "num_batch"},
    {"ub", PKEY_PARAM, "num_ubatch"},
    {"LLAMA_ARG_UBATCH", PKEY_PARAM, "num_ubatch"},
    {"t", PKEY_PARAM, "num_thread"},
    {"LLAMA_ARG_THREADS", PKEY_PARAM, "num_thread"},
    {"np", PKEY_PARAM, "num_parallel"},
    {"LLAMA_ARG_N_PARALLEL", PKEY_PARAM, "num_parallel"},
    {"ngl", PKEY_PARAM, "num_gpu"},
    {"gpu-layers", PKEY_PARAM, "num_gpu"},
    {"LLAMA_ARG_N_GPU_LAYERS", PKEY_PARAM, "num_gpu"},
    {"fa", PKEY_FLASH, "flash_attn"},
    {"flash-attn", PKEY_FLASH, "flash_attn"},
    {"flash_attn", PKEY_FLASH, "flash_attn"},
    {"LLAMA_ARG_FLASH_ATTN", PKEY_FLASH, "flash_attn"},
    {"ctk", PKEY_PARAM, "cache_type_k"},
    {"LLAMA_ARG_CACHE_TYPE_K", PKEY_PARAM, "cache_type_k"},
    {"ctv", PKEY_PARAM, "cache_type_v"},
    {"LLAMA_ARG_CACHE_TYPE_V", PKEY_PARAM, "cache_type_v"},
    {"no-context-shift", PKEY_NEG, "context_shift"},
    {"LLAMA_ARG_CONTEXT_SHIFT", PKEY_PARAM, "context_shift"},
    {"s", PKEY_PARAM, "seed"},
    {"LLAMA_ARG_TEMPERATURE", PKEY_PARAM, "temperature"},
    {"LLAMA_ARG_TOP_K", PKEY_PARAM, "top_k"},
    {"LLAMA_ARG_TOP_P", PKEY_PARAM, "top_p"},
    {"LLAMA_ARG_MIN_P", PKEY_PARAM, "min_p"},
    {"top-nsigma", PKEY_PARAM, "top_n_sigma"},
    {"typical-p", PKEY_PARAM, "typical_p"},
    {"LLAMA_ARG_REPEAT_PENALTY", PKEY_PARAM, "repeat_penalty"},
    {"LLAMA_ARG_PRESENCE_PENALTY", PKEY_PARAM, "presence_penalty"},
    {"LLAMA_ARG_FREQUENCY_PENALTY", PKEY_PARAM, "frequency_penalty"},
    {"dynatemp-exp", PKEY_PARAM, "dynatemp_exponent"},
    {"l", PKEY_PARAM, "logit_bias"},
    {"LLAMA_ARG_ROPE_FREQ_BASE", PKEY_PARAM, "rope_freq_base"},
    {"LLAMA_ARG_ROPE_FREQ_SCALE", PKEY_PARAM, "rope_freq_scale"},
    /* Older llama.cpp releases had --mlock and --mmap/--no-mmap; v0.5.0 has --load-mode. */
    {"mlock", PKEY_PARAM, "use_mlock"},
    {"LLAMA_ARG_MLOCK", PKEY_PARAM, "use_mlock"},
    {"mmap", PKEY_PARAM, "use_mmap"},
    {"LLAMA_ARG_MMAP", PKEY_PARAM, "use_mmap"},
    {"no-mmap", PKEY_NEG, "use_mmap"},
    {"LLAMA_ARG_NO_MMAP", PKEY_NEG, "use_mmap"},
    {"lm", PKEY_LOAD_MODE, "load_mode"},
    {"load-mode", PKEY_LOAD_MODE, "load_mode"},
    {"LLAMA_ARG_LOAD_MODE", PKEY_LOAD_MODE, "load_mode"},
    /* What the model is. */
    {"m", PKEY_MODEL, "model"},
    {"model", PKEY_MODEL, "model"},
    {"LLAMA_ARG_MODEL", PKEY_MODEL, "model"},
    /* A Hugging Face repository is a model name hearth resolves ("org/repo:Q4_K_M"). */
    {"hf", PKEY_MODEL, "model"},
    {"hfr", PKEY_MODEL, "model"},
    {"hf-repo", PKEY_MODEL, "model"},
    {"LLAMA_ARG_HF_REPO", PKEY_MODEL, "model"},
    {"mm", PKEY_MODEL, "mmproj"},
    {"mmproj", PKEY_MODEL, "mmproj"},
    {"LLAMA_ARG_MMPROJ", PKEY_MODEL, "mmproj"},
    {"chat-template", PKEY_MODEL, "chat-template"},
    {"LLAMA_ARG_CHAT_TEMPLATE", PKEY_MODEL, "chat-template"},
    {"chat-template-file", PKEY_MODEL, "chat-template-file"},
    {"LLAMA_ARG_CHAT_TEMPLATE_FILE", PKEY_MODEL, "chat-template-file"},
    {"ollama-template", PKEY_MODEL, "ollama-template"},
    /* hearth's: the family the model writes tool calls in, when detection from the template
     * guesses wrong ("hermes", "llama3", ... as the README lists). */
    {"tool-call-format", PKEY_MODEL, "tool-call-format"},
    {"system", PKEY_MODEL, "system"},
    {"messages", PKEY_MODEL, "messages"},
    {"license", PKEY_MODEL, "license"},
    {"adapter", PKEY_MODEL, "adapter"},
    {"lora", PKEY_MODEL, "adapter"},
    /* hearth's: the model is served by a remote OpenAI-compatible server (README "Remote
     * engines"). */
    {"remote", PKEY_MODEL, "remote"},
    {"remote-model", PKEY_MODEL, "remote-model"},
    {"remote-api-key-env", PKEY_MODEL, "remote-api-key-env"},
    {"remote-timeout", PKEY_MODEL, "remote-timeout"},
    {"remote-connect-timeout", PKEY_MODEL, "remote-connect-timeout"},
    /* llama-server's router keys. */
    {"load-on-startup", PKEY_ROUTER, "load-on-startup"},
    {"stop-timeout", PKEY_ROUTER, "stop-timeout"},
    /* What hearth always does: true is accepted, false is an error. */
    {"jinja", PKEY_ALWAYS, "jinja"},
    {"LLAMA_ARG_JINJA", PKEY_ALWAYS, "jinja"},
    {"cb", PKEY_ALWAYS, "cont-batching"},
    {"cont-batching", PKEY_ALWAYS, "cont-batching"},
    {"LLAMA_ARG_CONT_BATCHING", PKEY_ALWAYS, "cont-batching"},
};

/* Every other argument name and environment variable llama-server v0.5.0 accepts (from
 * common/arg.cpp), sorted for bsearch: knobs hearth does not have. */
static const char *const unsupported[] = {
    "C", "Cb", "Cbd", "Cd", "Cr", "Crb", "Crbd", "Crd", "HF_TOKEN", "LLAMA_API_KEY",
    "LLAMA_ARG_AGENT", "LLAMA_ARG_ALIAS", "LLAMA_ARG_API_KEY_FILE", "LLAMA_ARG_API_PREFIX",
    "LLAMA_ARG_BACKEND_SAMPLING", "LLAMA_ARG_CACHE_IDLE_SLOTS", "LLAMA_ARG_CACHE_PROMPT",
    "LLAMA_ARG_CACHE_RAM", "LLAMA_ARG_CACHE_REUSE", "LLAMA_ARG_CHAT_TEMPLATE_KWARGS",
    "LLAMA_ARG_CHECKPOINT_MIN_SPACING_NT", "LLAMA_ARG_CORS_CREDENTIALS", "LLAMA_ARG_CORS_HEADERS",
    "LLAMA_ARG_CORS_METHODS", "LLAMA_ARG_CORS_ORIGINS", "LLAMA_ARG_CPU_MOE",
    "LLAMA_ARG_CTX_CHECKPOINTS", "LLAMA_ARG_DEFRAG_THOLD", "LLAMA_ARG_DEVICE",
    "LLAMA_ARG_DOCKER_REPO", "LLAMA_ARG_DRAFT_MAX", "LLAMA_ARG_DRAFT_MIN", "LLAMA_ARG_EMBEDDINGS",
    "LLAMA_ARG_ENDPOINT_METRICS", "LLAMA_ARG_ENDPOINT_PROPS", "LLAMA_ARG_ENDPOINT_SLOTS",
    "LLAMA_ARG_FIT", "LLAMA_ARG_FIT_CTX", "LLAMA_ARG_FIT_TARGET", "LLAMA_ARG_HF_FILE",
    "LLAMA_ARG_HOST", "LLAMA_ARG_IMAGE_MAX_TOKENS", "LLAMA_ARG_IMAGE_MIN_TOKENS",
    "LLAMA_ARG_KV_OFFLOAD", "LLAMA_ARG_KV_UNIFIED", "LLAMA_ARG_KV_UNIFIED_PER_SLOT",
    "LLAMA_ARG_LAZY_MODE", "LLAMA_ARG_LOG_COLORS", "LLAMA_ARG_LOG_FILE", "LLAMA_ARG_LOG_JSONL",
    "LLAMA_ARG_LOG_PREFIX", "LLAMA_ARG_LOG_TIMESTAMPS", "LLAMA_ARG_LOG_VERBOSITY",
    "LLAMA_ARG_MAIN_GPU", "LLAMA_ARG_MCP_SERVERS_CONFIG", "LLAMA_ARG_MCP_SERVERS_JSON",
    "LLAMA_ARG_MMPROJ_AUTO", "LLAMA_ARG_MMPROJ_OFFLOAD", "LLAMA_ARG_MMPROJ_URL",
    "LLAMA_ARG_MODELS_AUTOLOAD", "LLAMA_ARG_MODELS_DIR", "LLAMA_ARG_MODELS_MAX",
    "LLAMA_ARG_MODELS_PRESET", "LLAMA_ARG_MODEL_URL", "LLAMA_ARG_MTMD_BATCH_MAX_TOKENS",
    "LLAMA_ARG_NO_HOST", "LLAMA_ARG_NUMA", "LLAMA_ARG_N_CPU_FFN", "LLAMA_ARG_N_CPU_MOE",
    "LLAMA_ARG_N_GPU_LAYERS_DRAFT", "LLAMA_ARG_OFFLINE", "LLAMA_ARG_OVERRIDE_TENSOR",
    "LLAMA_ARG_PERF", "LLAMA_ARG_POOLING", "LLAMA_ARG_PORT", "LLAMA_ARG_PREFILL_ASSISTANT",
    "LLAMA_ARG_REASONING", "LLAMA_ARG_REASONING_EFFORT", "LLAMA_ARG_REASONING_PRESERVE",
    "LLAMA_ARG_REPACK", "LLAMA_ARG_RERANKING", "LLAMA_ARG_REUSE_PORT", "LLAMA_ARG_ROPE_SCALE",
    "LLAMA_ARG_ROPE_SCALING_TYPE", "LLAMA_ARG_RPC", "LLAMA_ARG_SKIP_CHAT_PARSING",
    "LLAMA_ARG_SPEC_DRAFT_BACKEND_SAMPLING", "LLAMA_ARG_SPEC_DRAFT_CACHE_TYPE_K",
    "LLAMA_ARG_SPEC_DRAFT_CACHE_TYPE_V", "LLAMA_ARG_SPEC_DRAFT_CPU_MOE",
    "LLAMA_ARG_SPEC_DRAFT_HF_REPO", "LLAMA_ARG_SPEC_DRAFT_MODEL",
    "LLAMA_ARG_SPEC_DRAFT_N_CPU_MOE", "LLAMA_ARG_SPEC_DRAFT_N_MAX", "LLAMA_ARG_SPEC_DRAFT_N_MIN",
    "LLAMA_ARG_SPEC_DRAFT_P_MIN", "LLAMA_ARG_SPEC_DRAFT_P_SPLIT", "LLAMA_ARG_SPEC_SYNTH_LEN",
    "LLAMA_ARG_SPEC_SYNTH_RATES", "LLAMA_ARG_SPEC_TYPE", "LLAMA_ARG_SPLIT_MODE",
    "LLAMA_ARG_SSE_PING_INTERVAL", "LLAMA_ARG_SSL_CERT_FILE", "LLAMA_ARG_SSL_KEY_FILE",
    "LLAMA_ARG_STATIC_PATH", "LLAMA_ARG_SWA_FULL", "LLAMA_ARG_TAGS", "LLAMA_ARG_TENSOR_SPLIT",
    "LLAMA_ARG_THINK", "LLAMA_ARG_THINK_BUDGET", "LLAMA_ARG_THINK_BUDGET_MESSAGE",
    "LLAMA_ARG_THREADS_HTTP", "LLAMA_ARG_TIMEOUT", "LLAMA_ARG_TOOLS", "LLAMA_ARG_TOOLS_RUNTIME",
    "LLAMA_ARG_UI", "LLAMA_ARG_UI_CONFIG", "LLAMA_ARG_UI_CONFIG_FILE", "LLAMA_ARG_UI_MCP_PROXY",
    "LLAMA_ARG_VIDEO_FFMPEG_DIR", "LLAMA_ARG_VIDEO_FPS", "LLAMA_ARG_VIDEO_TIMESTAMP_INTERVAL",
    "LLAMA_ARG_YARN_ATTN_FACTOR", "LLAMA_ARG_YARN_BETA_FAST", "LLAMA_ARG_YARN_BETA_SLOW",
    "LLAMA_ARG_YARN_EXT_FACTOR", "LLAMA_ARG_YARN_ORIG_CTX", "MTMD_BACKEND_DEVICE", "a",
    "adaptive-decay", "adaptive-target", "ag", "agent", "alias", "api-key", "api-key-file",
    "api-prefix", "backend-sampling", "bs", "cache-idle-slots", "cache-list", "cache-prompt",
    "cache-ram", "cache-reuse", "cache-type-k-draft", "cache-type-v-draft",
    "chat-template-kwargs", "check-tensors", "checkpoint-min-step", "cl", "cmoe", "cmoed", "cms",
    "completion-bash", "control-vector", "control-vector-layer-range", "control-vector-scaled",
    "cors-credentials", "cors-headers", "cors-methods", "cors-origins", "cpu-mask",
    "cpu-mask-batch", "cpu-mask-batch-draft", "cpu-mask-draft", "cpu-moe", "cpu-moe-draft",
    "cpu-range", "cpu-range-batch", "cpu-range-batch-draft", "cpu-range-draft", "cpu-strict",
    "cpu-strict-batch", "cpu-strict-batch-draft", "cpu-strict-draft", "cram", "ctkd", "ctvd",
    "ctx-checkpoints", "ctxcp", "defrag-thold", "dev", "devd", "device", "device-draft",
    "docker-repo", "dr", "draft", "draft-max", "draft-min", "draft-n", "draft-n-min",
    "draft-p-min", "draft-p-split", "dt", "e", "embd-gemma-default", "embd-normalize",
    "embedding", "embeddings", "escape", "fim-qwen-1.5b-default", "fim-qwen-14b-spec",
    "fim-qwen-30b-default", "fim-qwen-3b-default", "fim-qwen-7b-default", "fim-qwen-7b-spec",
    "fit", "fit-ctx", "fit-target", "fitc", "fitt", "gpt-oss-120b-default", "gpt-oss-20b-default",
    "gpu-layers-draft", "grammar-file", "hf-file", "hf-repo-draft", "hf-token", "hfd", "hff",
    "hfrd", "hft", "host", "image-max-tokens", "image-min-tokens", "j", "jf", "json-schema",
    "json-schema-file", "kv-offload", "kv-unified", "kv-unified-per-slot", "kvo", "kvu",
    "lazy-mode", "lcd", "lcs", "list-devices", "log-colors", "log-disable", "log-file",
    "log-jsonl", "log-prefix", "log-prompts-dir", "log-timestamps", "log-verbose",
    "log-verbosity", "lookup-cache-dynamic", "lookup-cache-static", "lora-init-without-apply",
    "lora-scaled", "lv", "lzm", "main-gpu", "mcp-servers-config", "mcp-servers-json", "md",
    "media-path", "metrics", "mg", "mmdev", "mmproj-auto", "mmproj-device", "mmproj-offload",
    "mmproj-url", "mmu", "model-draft", "model-url", "models-autoload", "models-dir",
    "models-max", "models-preset", "mtmd-batch-max-tokens", "mu", "n-cpu-ffn", "n-cpu-moe",
    "n-cpu-moe-draft", "n-gpu-layers-draft", "ncffn", "ncmoe", "ncmoed", "ngld", "nkvo", "no-ag",
    "no-agent", "no-cache-idle-slots", "no-cache-prompt", "no-cors-credentials", "no-escape",
    "no-host", "no-kv-offload", "no-kv-unified", "no-kvu", "no-log-jsonl", "no-log-prefix",
    "no-log-timestamps", "no-mmproj", "no-mmproj-auto", "no-mmproj-offload", "no-models-autoload",
    "no-op-offload", "no-perf", "no-prefill-assistant", "no-reasoning-preserve", "no-repack",
    "no-skip-chat-parsing", "no-slots", "no-spec-draft-backend-sampling", "no-ui",
    "no-ui-mcp-proxy", "no-warmup", "no-webui", "no-webui-mcp-proxy", "nr", "numa", "offline",
    "op-offload", "ot", "otd", "override-kv", "override-tensor", "override-tensor-draft", "path",
    "perf", "poll", "poll-batch", "poll-batch-draft", "poll-draft", "pooling", "port",
    "prefill-assistant", "prio", "prio-batch", "prio-batch-draft", "prio-draft", "props", "r",
    "rea", "reasoning", "reasoning-budget", "reasoning-budget-message", "reasoning-effort",
    "reasoning-format", "reasoning-preserve", "repack", "rerank", "reranking", "reuse-port",
    "reverse-prompt", "rope-scale", "rope-scaling", "rpc", "sampler-seq", "samplers",
    "sampling-seq", "skip-chat-parsing", "sleep-idle-seconds", "slot-prompt-similarity",
    "slot-save-path", "slots", "sm", "sp", "spec-default", "spec-draft-backend-sampling",
    "spec-draft-cpu-mask", "spec-draft-cpu-mask-batch", "spec-draft-cpu-moe",
    "spec-draft-cpu-range", "spec-draft-cpu-range-batch", "spec-draft-cpu-strict",
    "spec-draft-cpu-strict-batch", "spec-draft-device", "spec-draft-hf", "spec-draft-model",
    "spec-draft-n-cpu-moe", "spec-draft-n-max", "spec-draft-n-min", "spec-draft-ncmoe",
    "spec-draft-ngl", "spec-draft-override-tensor", "spec-draft-p-min", "spec-draft-p-split",
    "spec-draft-poll", "spec-draft-poll-batch", "spec-draft-prio", "spec-draft-prio-batch",
    "spec-draft-threads", "spec-draft-threads-batch", "spec-draft-type-k", "spec-draft-type-v",
    "spec-ngram-map-k-min-hits", "spec-ngram-map-k-size-m", "spec-ngram-map-k-size-n",
    "spec-ngram-map-k4v-min-hits", "spec-ngram-map-k4v-size-m", "spec-ngram-map-k4v-size-n",
    "spec-ngram-min-hits", "spec-ngram-mod-n-match", "spec-ngram-mod-n-max",
    "spec-ngram-mod-n-min", "spec-ngram-simple-min-hits", "spec-ngram-simple-size-m",
    "spec-ngram-simple-size-n", "spec-ngram-size-m", "spec-ngram-size-n", "spec-synth-len",
    "spec-synth-rates", "spec-type", "special", "split-mode", "spm-infill", "sps",
    "sse-ping-interval", "ssl-cert-file", "ssl-key-file", "swa-checkpoints", "swa-full", "tags",
    "tb", "tbd", "td", "tensor-split", "threads-batch", "threads-batch-draft", "threads-draft",
    "threads-http", "timeout", "to", "tools", "tools-runtime", "ts", "ui", "ui-config",
    "ui-config-file", "ui-mcp-proxy", "v", "verbose", "verbosity", "video-ffmpeg-dir",
    "video-fps", "video-timestamp-interval", "vision-gemma-12b-default",
    "vision-gemma-4b-default", "warmup", "webui", "webui-config", "webui-config-file",
    "webui-mcp-proxy", "yarn-attn-factor", "yarn-beta-fast", "yarn-beta-slow", "yarn-ext-factor",
    "yarn-orig-ctx",
};
/* clang-format on */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int preset_key_lookup(const char *key, struct preset_key *out)
{
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!strcmp(keys[i].key, key)) {
            *out = keys[i];
            return 0;
        }
    const struct param_desc *d = params_find(key);
    if (d) {
        *out = (struct preset_key){key, !strcmp(d->name, "flash_attn") ? PKEY_FLASH : PKEY_PARAM,
                                   d->name};
        return 0;
    }
    if (params_is_retired(key)) {
        *out = (struct preset_key){key, PKEY_UNSUPPORTED, key};
        return 0;
    }
    if (bsearch(&key, unsupported, sizeof unsupported / sizeof unsupported[0],
                sizeof unsupported[0], cmp_str)) {
        *out = (struct preset_key){key, PKEY_UNSUPPORTED, key};
        return 0;
    }
    return -1;
}
