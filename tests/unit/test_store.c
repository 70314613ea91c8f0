/* The store on real files in a temporary folder: names, the digest-to-path function, a folder,
 * an Ollama store and a Hugging Face cache laid out as those tools write them, listing without
 * duplicates, ambiguity, copy and delete on every source. */
#include "base/sha256.h"
#include "check.h"
#include "store/layout.h"
#include "store/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[256];

static void write_file(const char *path, const char *data)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    layout_mkdirs(dir, NULL);
    FILE *f = fopen(path, "w");
    fputs(data, f);
    fclose(f);
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

static void test_names(void)
{
    struct model_ref r;
    char out[512];
    struct err e = {0};
    CHECK(model_ref_parse("llama3.2", &r, &e) == 0 && r.kind == REF_PLAIN);
    model_ref_format(&r, out, sizeof out);
    CHECK_STR(out, "llama3.2:latest");
    CHECK(model_ref_parse("qwen2.5:0.5b-instruct", &r, &e) == 0);
    CHECK_STR(r.tag, "0.5b-instruct");
    CHECK(model_ref_parse("hf.co/bartowski/Qwen2.5-0.5B-GGUF:q4_k_m", &r, &e) == 0);
    CHECK(r.kind == REF_HF);
    CHECK_STR(r.ns, "bartowski");
    CHECK_STR(r.tag, "q4_k_m");
    CHECK(model_ref_parse("bartowski/Qwen2.5-0.5B-GGUF", &r, &e) == 0 && r.kind == REF_HF);
    model_ref_format(&r, out, sizeof out);
    CHECK_STR(out, "hf.co/bartowski/Qwen2.5-0.5B-GGUF");
    CHECK(model_ref_parse("huggingface.co/o/r/sub/f-Q8_0.gguf", &r, &e) == 0);
    CHECK(r.kind == REF_HF_FILE);
    CHECK_STR(r.file, "sub/f-Q8_0.gguf");
    CHECK(model_ref_parse("registry.ollama.ai/library/llama3:8b", &r, &e) == 0);
    CHECK(r.kind == REF_OLLAMA);
    model_ref_format(&r, out, sizeof out);
    CHECK_STR(out, "llama3:8b");
    CHECK(model_ref_parse("registry.ollama.ai/hhao/coder", &r, &e) == 0);
    model_ref_format(&r, out, sizeof out);
    CHECK_STR(out, "hhao/coder:latest");
    CHECK(model_ref_parse("localhost:5000/ns/m:v1", &r, &e) == 0 && r.kind == REF_OLLAMA);
    CHECK_STR(r.host, "localhost:5000");
    CHECK_STR(r.tag, "v1");
    CHECK(model_ref_parse("./models/x.gguf", &r, &e) == 0 && r.kind == REF_PATH);
    /* Bad names: each is a clear error, never a path. */
    const char *bad[] = {
        "",           "..",   "a/../b",     "../../etc/passwd:x",     "x:",    ":tag", "a b",
        "a\\b",       "a\nb", "hf.co/o/..", "hf.co/o/r/../../x.gguf", "o/r/x", "-rf",  "x:../y",
        "hf.co/o/r/", "a//b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = model_ref_parse(bad[i], &r, &e);
        if (rc == 0 && r.kind != REF_PATH)
            fprintf(stderr, "accepted bad name '%s'\n", bad[i]);
        CHECK(rc == ERR_BAD_REQUEST || r.kind == REF_PATH);
    }
    CHECK(model_ref_parse("../../etc/passwd:x", &r, &e) == 0 && r.kind == REF_PATH);
    char longname[400];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    CHECK(model_ref_parse(longname, &r, &e) == ERR_BAD_REQUEST);
}

static void test_digests(void)
{
    char p[512];
    const char *hex = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    char d[80];
    snprintf(d, sizeof d, "sha256:%s", hex);
    CHECK(layout_ollama_blob("/r", d, p, sizeof p, NULL) == 0);
    char want[200];
    snprintf(want, sizeof want, "/r/blobs/sha256-%s", hex);
    CHECK_STR(p, want);
    snprintf(d, sizeof d, "sha256-%s", hex);
    CHECK(layout_ollama_blob("/r", d, p, sizeof p, NULL) == 0);
    const char *bad[] = {
        "sha256:0123",
        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0",
        "sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
        "sha256:../../../../../../../../../../../../../../../../../../etc/passwd",
        "sha256:%2e%2e456789abcdef0123456789abcdef0123456789abcdef0123456789ab",
        "sha512:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "sha256/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        "",
        NULL,
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(layout_ollama_blob("/r", bad[i], p, sizeof p, NULL) == ERR_BAD_REQUEST);
    CHECK(layout_hf_blob("/r", "../x", p, sizeof p, NULL) == ERR_BAD_REQUEST);
    CHECK(layout_hf_snapshot_file("/r", "0123456789abcdef0123456789abcdef01234567", "a/../b", p,
                                  sizeof p, NULL) == ERR_BAD_REQUEST);
    char q[32];
    layout_quant_of_file("Qwen2.5-0.5B-Instruct-Q4_K_M.gguf", q, sizeof q);
    CHECK_STR(q, "Q4_K_M");
    layout_quant_of_file("model.q8_0.gguf", q, sizeof q);
    CHECK_STR(q, "Q8_0");
    layout_quant_of_file("x-IQ2_XXS-00001-of-00002.gguf", q, sizeof q);
    CHECK_STR(q, "IQ2_XXS");
    layout_quant_of_file("llama.gguf", q, sizeof q);
    CHECK_STR(q, "");
    layout_quant_of_file("fp16-model-f16.gguf", q, sizeof q);
    CHECK_STR(q, "F16");
}

/* An Ollama store: a manifest with model, template, system, params and license layers. */
static void make_blob(const char *ollama, const char *text, char digest[72])
{
    char hex[65], path[512];
    sha256_hex(text, strlen(text), hex);
    snprintf(digest, 72, "sha256:%s", hex);
    snprintf(path, sizeof path, "%s/blobs/sha256-%s", ollama, hex);
    write_file(path, text);
}

static void make_ollama_model(const char *ollama, const char *name, const char *tag,
                              const char *weights)
{
    char dm[72], dt[72], ds[72], dp[72], dl[72], dc[72];
    make_blob(ollama, weights, dm);
    make_blob(ollama, "{{ .System }}<|im_start|>user {{ .Prompt }}<|im_end|>", dt);
    make_blob(ollama, "You are a pirate.", ds);
    make_blob(ollama, "{\"stop\":[\"<|im_end|>\",\"END\"],\"temperature\":0.25,\"bogus\":1}", dp);
    make_blob(ollama, "MIT", dl);
    make_blob(ollama, "{\"model_format\":\"gguf\"}", dc);
    char m[4096], path[512];
    snprintf(
        m, sizeof m,
        "{\"schemaVersion\":2,\"mediaType\":\"application/"
        "vnd.docker.distribution.manifest.v2+json\",\"config\":{\"mediaType\":\"application/"
        "vnd.docker.container.image.v1+json\",\"digest\":\"%s\",\"size\":22},\"layers\":["
        "{\"mediaType\":\"application/vnd.ollama.image.model\",\"digest\":\"%s\",\"size\":%zu},"
        "{\"mediaType\":\"application/vnd.ollama.image.template\",\"digest\":\"%s\",\"size\":1},"
        "{\"mediaType\":\"application/vnd.ollama.image.system\",\"digest\":\"%s\",\"size\":1},"
        "{\"mediaType\":\"application/vnd.ollama.image.params\",\"digest\":\"%s\",\"size\":1},"
        "{\"mediaType\":\"application/vnd.ollama.image.license\",\"digest\":\"%s\",\"size\":1}"
        "]}",
        dc, dm, strlen(weights), dt, ds, dp, dl);
    snprintf(path, sizeof path, "%s/manifests/registry.ollama.ai/library/%s/%s", ollama, name, tag);
    write_file(path, m);
}

/* A Hugging Face cache entry as huggingface_hub writes it. */
static void make_hf_file(const char *hub, const char *repo, const char *commit, const char *file,
                         const char *data)
{
    char dir[512], blob[600], link[700], hex[65], target[700];
    snprintf(dir, sizeof dir, "%s/models--%s", hub, repo);
    sha256_hex(data, strlen(data), hex);
    snprintf(blob, sizeof blob, "%s/blobs/%s", dir, hex);
    write_file(blob, data);
    snprintf(link, sizeof link, "%s/snapshots/%s/%s", dir, commit, file);
    char ldir[700];
    snprintf(ldir, sizeof ldir, "%s", link);
    *strrchr(ldir, '/') = '\0';
    layout_mkdirs(ldir, NULL);
    int depth = 0;
    for (const char *c = file; *c; c++)
        depth += *c == '/';
    snprintf(target, sizeof target, "../../%s%s%sblobs/%s", depth ? "../" : "",
             depth > 1 ? "../" : "", "", hex);
    unlink(link);
    CHECK(symlink(target, link) == 0);
    char ref[600];
    snprintf(ref, sizeof ref, "%s/refs/main", dir);
    write_file(ref, commit);
}

static const char *C1 = "1111111111111111111111111111111111111111";

static struct store *open_store(void)
{
    char dirs[1][300], hub[300], ollama[300], *dp[1];
    snprintf(dirs[0], sizeof dirs[0], "%s/folder", root);
    snprintf(hub, sizeof hub, "%s/hub", root);
    snprintf(ollama, sizeof ollama, "%s/ollama", root);
    dp[0] = dirs[0];
    struct store_config cfg = {.dirs = dp, .n_dirs = 1, .hf_hub = hub, .ollama_root = ollama};
    return store_init(&cfg);
}

static void test_sources(void)
{
    char p[600], p2[600];
    snprintf(p, sizeof p, "%s/folder/tiny.gguf", root);
    write_file(p, "GGUF tiny");
    snprintf(p, sizeof p, "%s/folder/tiny:q8.gguf", root);
    write_file(p, "GGUF tiny q8");
    snprintf(p, sizeof p, "%s/folder/vision/model-Q4_K_M.gguf", root);
    write_file(p, "GGUF vision");
    snprintf(p, sizeof p, "%s/folder/vision/mmproj-F16.gguf", root);
    write_file(p, "GGUF proj");
    snprintf(p, sizeof p, "%s/ollama", root);
    make_ollama_model(p, "pirate", "7b", "GGUF pirate weights");
    make_ollama_model(p, "tiny", "latest", "GGUF other tiny"); /* clashes with the folder */
    snprintf(p, sizeof p, "%s/hub", root);
    make_hf_file(p, "org--Repo-GGUF", C1, "Repo-Q4_K_M.gguf", "GGUF q4km");
    make_hf_file(p, "org--Repo-GGUF", C1, "Repo-Q8_0.gguf", "GGUF q8");
    make_hf_file(p, "org--Repo-GGUF", C1, "mmproj-Repo-f16.gguf", "GGUF mmproj");
    make_hf_file(p, "org--Split", C1, "big/Split-Q6_K-00001-of-00002.gguf", "GGUF part1");
    make_hf_file(p, "org--Split", C1, "big/Split-Q6_K-00002-of-00002.gguf", "part2");

    struct store *s = open_store();
    struct store_model m;
    struct err e = {0};

    CHECK(store_find(s, "tiny:q8", &m, &e) == 0 && m.source == STORE_SRC_FOLDER);
    store_model_free(&m);
    CHECK(store_find(s, "vision", &m, &e) == 0 && m.mmproj && strstr(m.mmproj, "mmproj-F16"));
    CHECK_STR(m.name, "vision:latest");
    store_model_free(&m);

    /* The Ollama model with everything its layers say. */
    CHECK(store_find(s, "pirate:7b", &m, &e) == 0);
    CHECK(m.source == STORE_SRC_OLLAMA);
    CHECK_STR(m.system, "You are a pirate.");
    CHECK_STR(m.license, "MIT");
    CHECK(m.template_is_go && strstr(m.template_text, "{{ .Prompt }}"));
    CHECK(m.params.n == 3); /* stop twice, temperature; "bogus" left out with a warning */
    CHECK(m.params.n == 3 && !strcmp(m.params.v[0], "stop=<|im_end|>"));
    CHECK(!strncmp(m.digest, "sha256:", 7));
    store_model_free(&m);
    CHECK(store_find(s, "registry.ollama.ai/library/pirate:7b", &m, &e) == 0);
    store_model_free(&m);

    /* A plain name in a folder and in Ollama's store: ambiguous, the error lists both. */
    CHECK(store_find(s, "tiny", &m, &e) == ERR_BAD_REQUEST);
    CHECK(strstr(e.msg, "ambiguous") && strstr(e.msg, "folder") && strstr(e.msg, "ollama"));

    /* Hugging Face: Q4_K_M by default, a quant by name, a file by path, a projector beside. */
    CHECK(store_find(s, "hf.co/org/Repo-GGUF", &m, &e) == 0);
    CHECK(m.source == STORE_SRC_HF && strstr(m.path, "Repo-Q4_K_M.gguf"));
    CHECK(m.mmproj && strstr(m.mmproj, "mmproj-Repo-f16.gguf"));
    CHECK_STR(m.name, "hf.co/org/Repo-GGUF:Q4_K_M");
    store_model_free(&m);
    CHECK(store_find(s, "org/Repo-GGUF:q8_0", &m, &e) == 0 && strstr(m.path, "Q8_0"));
    store_model_free(&m);
    CHECK(store_find(s, "hf.co/org/Repo-GGUF:Q2_K", &m, &e) == ERR_NOT_FOUND);
    CHECK(strstr(e.msg, "Repo-Q8_0.gguf") != NULL); /* lists what there is */
    if (!strstr(e.msg, "Repo-Q8_0.gguf"))
        fprintf(stderr, "message: %s\n", e.msg);
    CHECK(store_find(s, "hf.co/org/Split", &m, &e) == 0); /* the only model */
    CHECK(m.size == (int64_t)strlen("GGUF part1") + (int64_t)strlen("part2"));
    store_model_free(&m);
    CHECK(store_find(s, "hf.co/org/Split/big/Split-Q6_K-00001-of-00002.gguf", &m, &e) == 0);
    store_model_free(&m);
    CHECK(store_find(s, "hf.co/org/Nope", &m, &e) == ERR_NOT_FOUND);

    /* A path, and a missing path. */
    snprintf(p, sizeof p, "%s/folder/tiny.gguf", root);
    CHECK(store_find_local(s, p, &m, &e) == 0 && m.source == STORE_SRC_PATH);
    store_model_free(&m);
    CHECK(store_find_local(s, "./no/such.gguf", &m, &e) == ERR_NOT_FOUND);
    /* Names from the network never reach a path. */
    CHECK(store_find(s, p, &m, &e) == ERR_BAD_REQUEST && strstr(e.msg, "file path"));

    /* The listing: every model once, with its source. A folder link into the HF cache is the
     * same file and appears once. */
    snprintf(p, sizeof p, "%s/hub/models--org--Repo-GGUF/snapshots/%s/Repo-Q8_0.gguf", root, C1);
    snprintf(p2, sizeof p2, "%s/folder/linked.gguf", root);
    CHECK(symlink(p, p2) == 0);
    struct store_model *list;
    int n;
    store_list(s, &list, &n);
    int seen_q8 = 0, seen_pirate = 0, seen_split = 0, seen_full_tiny = 0, seen_proj = 0;
    for (int i = 0; i < n; i++) {
        seen_q8 += strstr(list[i].path, "Repo-Q8_0") || strstr(list[i].path, "linked.gguf");
        seen_pirate += !strcmp(list[i].name, "pirate:7b") && list[i].source == STORE_SRC_OLLAMA;
        seen_split += !strcmp(list[i].name, "hf.co/org/Split:Q6_K");
        seen_full_tiny += !strcmp(list[i].name, "registry.ollama.ai/library/tiny:latest");
        seen_proj += strstr(list[i].path, "mmproj") != NULL;
    }
    CHECK(seen_q8 == 1);
    CHECK(seen_pirate == 1);
    CHECK(seen_split == 1);
    CHECK(seen_full_tiny == 1);
    CHECK(seen_proj == 0);
    CHECK(n == 8); /* tiny, tiny:q8, vision, linked, pirate, ollama tiny, Repo Q4, Split */
    store_list_free(list, n);
    unlink(p2);

    /* Copy: a folder model gets a hard link; an Ollama model a new manifest. */
    CHECK(store_copy(s, "tiny:q8", "tiny2", &e) == 0);
    snprintf(p, sizeof p, "%s/folder/tiny2.gguf", root);
    CHECK(exists(p));
    CHECK(store_copy(s, "pirate:7b", "captain", &e) == 0);
    CHECK(store_find(s, "captain", &m, &e) == 0 && m.system && m.source == STORE_SRC_OLLAMA);
    char pirate_blob[600];
    snprintf(pirate_blob, sizeof pirate_blob, "%s", m.path);
    store_model_free(&m);
    CHECK(store_copy(s, "pirate:7b", "hf.co/x/y", &e) == ERR_BAD_REQUEST);

    /* Delete: a manifest whose blobs another manifest shares keeps them; the last one goes. */
    CHECK(store_delete(s, "pirate:7b", &e) == 0);
    CHECK(exists(pirate_blob));
    CHECK(store_find(s, "pirate:7b", &m, &e) == ERR_NOT_FOUND);
    CHECK(store_delete(s, "captain", &e) == 0);
    CHECK(!exists(pirate_blob));
    snprintf(p, sizeof p, "%s/ollama/manifests/registry.ollama.ai/library/captain", root);
    CHECK(!exists(p)); /* no empty folder left behind */

    /* Delete from the HF cache: the entry and its blob; the other quant stays. */
    snprintf(p, sizeof p, "%s/hub/models--org--Repo-GGUF/snapshots/%s/Repo-Q8_0.gguf", root, C1);
    CHECK(store_delete(s, "hf.co/org/Repo-GGUF:Q8_0", &e) == 0);
    CHECK(!exists(p));
    char hex[65];
    sha256_hex("GGUF q8", 7, hex);
    snprintf(p, sizeof p, "%s/hub/models--org--Repo-GGUF/blobs/%s", root, hex);
    CHECK(!exists(p));
    CHECK(store_find(s, "hf.co/org/Repo-GGUF", &m, &e) == 0);
    store_model_free(&m);
    /* A split model goes with all its shards. */
    CHECK(store_delete(s, "hf.co/org/Split", &e) == 0);
    snprintf(p, sizeof p,
             "%s/hub/models--org--Split/snapshots/%s/big/Split-Q6_K-00002-of-00002.gguf", root, C1);
    CHECK(!exists(p));

    /* A manifest naming a traversal digest is refused, and nothing outside is read. */
    snprintf(p, sizeof p, "%s/ollama/manifests/registry.ollama.ai/library/evil/latest", root);
    write_file(p, "{\"layers\":[{\"mediaType\":\"application/vnd.ollama.image.model\","
                  "\"digest\":\"sha256:../../../../etc/passwd\",\"size\":1}]}");
    CHECK(store_find(s, "evil", &m, &e) == ERR_BAD_REQUEST && strstr(e.msg, "invalid digest"));
    snprintf(p, sizeof p, "%s/ollama/manifests/registry.ollama.ai/library/broken/latest", root);
    write_file(p, "not json");
    CHECK(store_find(s, "broken", &m, &e) == ERR_BAD_MODEL && strstr(e.msg, "no layers"));
    store_free(s);
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/hearth-test-store-%d", (int)getpid());
    layout_mkdirs(root, NULL);
    test_names();
    test_digests();
    test_sources();
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", root);
    return check_done("test_store");
}
