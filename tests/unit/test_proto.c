/* The worker protocol: every message survives a round trip, and malformed frames are refused
 * without crashing. */
#include "base/buf.h"
#include "check.h"
#include "engine/proto.h"

#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static int roundtrip(const struct proto_msg *in, struct proto_msg *out)
{
    struct buf b;
    buf_init(&b, 0);
    proto_msg_init(out, 0);
    int rc = proto_encode(in, &b);
    if (!rc)
        rc = proto_decode((enum proto_type)(unsigned char)b.data[4], b.data + 8, b.len - 8, out,
                          NULL);
    buf_free(&b);
    return rc;
}

int main(void)
{
    struct err e = {0};
    struct proto_msg in, out;

    proto_msg_init(&in, PROTO_GENERATE);
    in.id = 0x1122334455667788ull;
    in.flags = PROTO_GEN_NO_BOS;
    in.prompt = strdup("héllo");
    gen_params_init(&in.gen);
    in.gen.temperature = 0.25f;
    in.gen.seed = 4000000000ll;
    in.gen.grammar = strdup("root ::= \"a\"");
    params_set_text(&in.gen, params_find("stop"), "\n\n", &e);
    params_set_text(&in.gen, params_find("stop"), "User:", &e);
    params_set_text(&in.gen, params_find("logit_bias"), "7-inf", &e);
    CHECK(roundtrip(&in, &out) == 0);
    CHECK(out.type == PROTO_GENERATE && out.id == in.id && out.flags == in.flags);
    CHECK_STR(out.prompt, "héllo");
    CHECK(out.gen.temperature == 0.25f && out.gen.seed == 4000000000ll);
    CHECK(out.gen.top_k == 40);
    CHECK_STR(out.gen.grammar, "root ::= \"a\"");
    CHECK(out.gen.stop.n == 2);
    if (out.gen.stop.n == 2)
        CHECK_STR(out.gen.stop.v[1], "User:");
    CHECK(out.gen.n_logit_bias == 1 && out.gen.logit_bias[0].token == 7);
    proto_msg_free(&out);

    /* Every truncation of a valid payload is refused cleanly. */
    struct buf b;
    buf_init(&b, 0);
    CHECK(proto_encode(&in, &b) == 0);
    int refused = 0;
    for (size_t cut = 0; cut < b.len - 8; cut++) {
        int rc = proto_decode(PROTO_GENERATE, b.data + 8, cut, &out, &e);
        refused += rc == ERR_PROTOCOL;
        proto_msg_free(&out);
    }
    CHECK(refused == (int)(b.len - 8));
    /* Trailing garbage too. */
    buf_append(&b, "x", 1);
    CHECK(proto_decode(PROTO_GENERATE, b.data + 8, b.len - 8, &out, &e) == ERR_PROTOCOL);
    proto_msg_free(&out);
    buf_free(&b);
    proto_msg_free(&in);

    /* A list count larger than the cap is refused before allocating. */
    {
        unsigned char p[64] = {0};
        CHECK(proto_decode(PROTO_CANCEL, p, 8, &out, &e) == 0);
        proto_msg_free(&out);
        CHECK(proto_decode((enum proto_type)99, p, 8, &out, &e) == ERR_PROTOCOL);
        proto_msg_free(&out);
    }

    proto_msg_init(&in, PROTO_DONE);
    in.id = 9;
    in.stats.stop_reason = PROTO_STOP_STRING;
    in.stats.prompt_n = 5;
    in.stats.gen_n = 17;
    in.stats.gen_us = 123456789;
    in.stats.stop_string = strdup("END");
    CHECK(roundtrip(&in, &out) == 0);
    CHECK(out.stats.gen_n == 17 && out.stats.gen_us == 123456789 && out.stats.prompt_n == 5);
    CHECK_STR(out.stats.stop_string, "END");
    proto_msg_free(&out);
    proto_msg_free(&in);

    proto_msg_init(&in, PROTO_LOAD);
    in.path = strdup("/m/x.gguf");
    load_params_init(&in.load);
    in.load.num_ctx = 777;
    CHECK(roundtrip(&in, &out) == 0);
    CHECK_STR(out.path, "/m/x.gguf");
    CHECK(out.load.num_ctx == 777 && out.load.use_mmap);
    CHECK_STR(out.load.cache_type_k, "f16");
    proto_msg_free(&out);
    proto_msg_free(&in);

    /* String lists: EMBED inputs and TOKENIZED pieces, whole and truncated. */
    proto_msg_init(&in, PROTO_EMBED);
    in.id = 11;
    in.dimensions = 8;
    strlist_add(&in.inputs, "hello");
    strlist_add(&in.inputs, "wörld");
    CHECK(roundtrip(&in, &out) == 0);
    CHECK(out.inputs.n == 2 && out.dimensions == 8);
    if (out.inputs.n == 2)
        CHECK_STR(out.inputs.v[1], "wörld");
    proto_msg_free(&out);
    buf_init(&b, 0);
    CHECK(proto_encode(&in, &b) == 0);
    refused = 0;
    for (size_t cut = 0; cut < b.len - 8; cut++) {
        refused += proto_decode(PROTO_EMBED, b.data + 8, cut, &out, &e) == ERR_PROTOCOL;
        proto_msg_free(&out);
    }
    CHECK(refused == (int)(b.len - 8));
    buf_free(&b);
    proto_msg_free(&in);
    proto_msg_init(&in, PROTO_TOKENIZED);
    int32_t toks[2] = {403, 407};
    in.prefix_tokens = malloc(sizeof toks);
    memcpy(in.prefix_tokens, toks, sizeof toks);
    in.n_prefix_tokens = 2;
    strlist_add(&in.inputs, " Once");
    strlist_add(&in.inputs, " upon");
    CHECK(roundtrip(&in, &out) == 0);
    CHECK(out.n_prefix_tokens == 2 && out.prefix_tokens[1] == 407 && out.inputs.n == 2);
    proto_msg_free(&out);
    proto_msg_free(&in);

    /* Slot states: a round trip, every truncation refused, and a count past the cap refused. */
    proto_msg_init(&in, PROTO_SLOTS_INFO);
    in.id = 9;
    in.n_queued = 3;
    in.n_slots = 2;
    in.slots = calloc(2, sizeof *in.slots);
    in.slots[1] = (struct slot_info){PROTO_SLOT_GENERATING, 77, 512, 40, 30, 10};
    CHECK(roundtrip(&in, &out) == 0);
    CHECK(out.n_slots == 2 && out.n_queued == 3 && out.slots[0].state == PROTO_SLOT_IDLE);
    CHECK(out.slots[1].task == 77 && out.slots[1].n_ctx == 512 && out.slots[1].n_past == 40 &&
          out.slots[1].n_prompt == 30 && out.slots[1].n_decoded == 10);
    proto_msg_free(&out);
    buf_init(&b, 0);
    CHECK(proto_encode(&in, &b) == 0);
    refused = 0;
    for (size_t cut = 0; cut < b.len - 8; cut++) {
        int rc = proto_decode(PROTO_SLOTS_INFO, b.data + 8, cut, &out, &e);
        refused += rc == ERR_PROTOCOL;
        proto_msg_free(&out);
    }
    CHECK(refused == (int)(b.len - 8));
    b.data[8 + 12] = (char)0xff; /* n = 0x..ff: more slots than the payload holds */
    CHECK(proto_decode(PROTO_SLOTS_INFO, b.data + 8, b.len - 8, &out, &e) == ERR_PROTOCOL);
    proto_msg_free(&out);
    buf_free(&b);
    proto_msg_free(&in);

    /* Over a real socket: a message, an oversized frame header, and EOF. */
    int sv[2];
    CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    proto_msg_init(&in, PROTO_TOKEN);
    in.id = 3;
    in.text = strdup("tok");
    in.text_len = 3;
    CHECK(proto_send(sv[0], &in, &e) == 0);
    CHECK(proto_recv(sv[1], &out, &e) == 0);
    CHECK(out.type == PROTO_TOKEN && out.text_len == 3 && !memcmp(out.text, "tok", 3));
    proto_msg_free(&out);
    proto_msg_free(&in);
    unsigned char huge[8] = {0xff, 0xff, 0xff, 0x7f, PROTO_TOKEN, 0, 0, 0};
    CHECK(write(sv[0], huge, 8) == 8);
    CHECK(proto_recv(sv[1], &out, &e) == ERR_PROTOCOL);
    proto_msg_free(&out);
    close(sv[0]);
    CHECK(proto_recv(sv[1], &out, &e) == ERR_WORKER_DIED);
    proto_msg_free(&out);
    close(sv[1]);
    return check_done("test_proto");
}
