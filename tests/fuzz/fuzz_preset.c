/* The presets parser (src/store/preset.c): llama-server's INI, then every lookup a request
 * makes of it. */
#include "store/preset.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct preset_set *p = NULL;
    struct err e = {0};
    if (preset_parse("fuzz.ini", (const char *)data, size, &p, &e) == 0) {
        int n;
        const char *const *names = preset_sections(p, &n);
        for (int i = 0; i < n; i++) {
            int nkv;
            const struct preset_kv *kv = preset_entries(p, names[i], &nkv);
            (void)kv;
            (void)preset_get(p, names[i], "model");
            (void)preset_get(p, names[i], "chat-template");
        }
        (void)preset_get(p, "*", "temp");
        preset_release(p);
    }
    return 0;
}
