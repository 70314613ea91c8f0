#!/usr/bin/env python3
"""Writes small GGUF files: a well-formed one, and one per known class of hostile file (#11).

    gguf_gen.py OUTDIR            writes OUTDIR/ok.gguf and OUTDIR/<class>.gguf for each class
    gguf_gen.py --from MODEL OUTDIR   also rewrites the metadata of a real model (MODEL) into the
                                      semantic classes (block_count 513, a 1-token vocabulary with
                                      out-of-range special ids, a <0x-1> byte token)

The structural classes follow llama.cpp's test-gguf and the CVEs of security.md: truncation at
every header boundary, counts larger than the file, tensor extents past the end, alignment 0, 3
and 2^31, duplicate keys and tensors, huge string lengths, bad types, versions 0, 1 and 99.
"""
import os
import struct
import sys

U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
ALIGN = 32


def s(text):
    b = text.encode() if isinstance(text, str) else text
    return struct.pack('<Q', len(b)) + b


def value(t, v, arr_type=None):
    if t == STRING:
        return s(v)
    if t == ARRAY:
        out = struct.pack('<IQ', arr_type, len(v))
        return out + b''.join(value(arr_type, x) for x in v)
    fmt = {U8: 'B', I8: 'b', U16: 'H', I16: 'h', U32: 'I', I32: 'i', F32: 'f', BOOL: '?',
           U64: 'Q', I64: 'q', F64: 'd'}[t]
    return struct.pack('<' + fmt, v)


def kv(key, t, v, arr_type=None):
    return s(key) + struct.pack('<I', t) + value(t, v, arr_type)


def base_kvs(block_count=1, tokens=None):
    tokens = tokens or ['<unk>', '<s>', '</s>', 'a', 'b', '<0x0A>']
    return [
        kv('general.architecture', STRING, 'llama'),
        kv('general.name', STRING, 'fuzz'),
        kv('general.file_type', U32, 0),
        kv('llama.block_count', U32, block_count),
        kv('llama.context_length', U32, 128),
        kv('llama.embedding_length', U32, 8),
        kv('llama.feed_forward_length', U32, 16),
        kv('llama.attention.head_count', U32, 2),
        kv('tokenizer.ggml.model', STRING, 'llama'),
        kv('tokenizer.ggml.tokens', ARRAY, tokens, STRING),
        kv('tokenizer.ggml.bos_token_id', U32, 1),
        kv('tokenizer.ggml.eos_token_id', U32, 2),
        kv('tokenizer.chat_template', STRING,
           '{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}'),
    ]


def tensor_info(name, dims, ggml_type, offset):
    return s(name) + struct.pack('<I', len(dims)) + b''.join(struct.pack('<Q', d) for d in dims) + \
        struct.pack('<IQ', ggml_type, offset)


def gguf(kvs, tensors, version=3, n_kv=None, n_tensors=None, align=ALIGN, data=None):
    """tensors: (name, dims, type, offset); data: the bytes after the aligned header."""
    head = b'GGUF' + struct.pack('<IQQ', version, len(tensors) if n_tensors is None else n_tensors,
                                 len(kvs) if n_kv is None else n_kv)
    body = head + b''.join(kvs) + b''.join(tensor_info(*t) for t in tensors)
    if align:
        body += b'\0' * ((-len(body)) % align)
    if data is None:
        data = b''
        for name, dims, _t, off in tensors:
            n = 4
            for d in dims:
                n *= d
            data = data.ljust(off, b'\0') + b'\1' * n
    return body + data


def ok_tensors():
    return [('token_embd.weight', [8, 6], 0, 0), ('output_norm.weight', [8], 0, 192)]


def structural():
    k, t = base_kvs(), ok_tensors()
    good = gguf(k, t)
    out = {'ok': good}
    # Truncations at each boundary of the header: magic, version, counts, inside the KVs, inside
    # the tensor infos, before the data, and one byte short of the end.
    head_len = 24
    kv_len = sum(len(x) for x in k)
    cuts = {'cut_magic': 2, 'cut_version': 6, 'cut_counts': 20, 'cut_first_kv': head_len + 5,
            'cut_mid_kvs': head_len + kv_len // 2, 'cut_tensor_infos': head_len + kv_len + 10,
            'cut_before_data': len(good) - 224, 'cut_last_byte': len(good) - 1}
    for name, n in cuts.items():
        out[name] = good[:n]
    out['empty'] = b''
    out['bad_magic'] = b'GGUX' + good[4:]
    out['version_0'] = gguf(k, t, version=0)
    out['version_1'] = gguf(k, t, version=1)
    out['version_99'] = gguf(k, t, version=99)
    out['n_kv_huge'] = gguf(k, t, n_kv=1 << 62)
    out['n_kv_more'] = gguf(k, t, n_kv=len(k) + 1)
    out['n_tensors_huge'] = gguf(k, t, n_tensors=(1 << 64) - 1)
    out['n_tensors_more'] = gguf(k, t, n_tensors=3)
    out['tensor_past_end'] = gguf(k, [('token_embd.weight', [8, 6], 0, 0),
                                      ('output_norm.weight', [8], 0, 1 << 40)], data=b'\1' * 224)
    out['tensor_dims_overflow'] = gguf(k, [('token_embd.weight', [1 << 62, 1 << 62], 0, 0)],
                                       data=b'\1' * 64)
    out['tensor_n_dims_9'] = gguf(k, [('token_embd.weight', [1] * 9, 0, 0)], data=b'\1' * 64)
    out['tensor_bad_type'] = gguf(k, [('token_embd.weight', [8, 6], 99, 0)])
    out['tensor_misaligned'] = gguf(k, [('token_embd.weight', [8, 6], 0, 3)])
    out['tensor_duplicate'] = gguf(k, [('token_embd.weight', [8], 0, 0),
                                       ('token_embd.weight', [8], 0, 32)])
    out['tensor_name_huge'] = gguf(k, [('x' * 70000, [8], 0, 0)])
    out['key_duplicate'] = gguf(k + [kv('general.name', STRING, 'again')], t)
    out['key_empty'] = gguf(k + [kv('', U32, 1)], t)
    out['key_len_huge'] = gguf(k, t)[:0] + b'GGUF' + struct.pack('<IQQ', 3, 0, 1) + \
        struct.pack('<Q', 1 << 60) + b'abc'
    out['string_len_huge'] = b'GGUF' + struct.pack('<IQQ', 3, 0, 1) + s('general.name') + \
        struct.pack('<IQ', STRING, (1 << 63) + 5) + b'abc'
    out['array_len_huge'] = b'GGUF' + struct.pack('<IQQ', 3, 0, 1) + s('tokenizer.ggml.tokens') + \
        struct.pack('<IIQ', ARRAY, STRING, 1 << 61) + b'abc'
    out['array_of_arrays'] = gguf(k + [kv('x.nested', ARRAY, [], ARRAY)], t)
    out['kv_bad_type'] = b'GGUF' + struct.pack('<IQQ', 3, 0, 1) + s('general.name') + \
        struct.pack('<I', 77) + b'\0' * 16
    for name, a in (('alignment_0', 0), ('alignment_3', 3), ('alignment_2_31', 1 << 31)):
        out[name] = gguf(k + [kv('general.alignment', U32, a)], t)
    out['alignment_mistyped'] = gguf(k + [kv('general.alignment', STRING, '32')], t)
    out['block_count_mistyped'] = gguf(
        [x for x in k if b'block_count' not in x] + [kv('llama.block_count', STRING, 'one')], t)
    return out


# ---- the semantic classes: a real model's metadata rewritten ----

def read_value(b, pos, t):
    if t == STRING:
        n = struct.unpack_from('<Q', b, pos)[0]
        return b[pos + 8:pos + 8 + n], pos + 8 + n
    if t == ARRAY:
        at, n = struct.unpack_from('<IQ', b, pos)
        pos += 12
        items = []
        for _ in range(n):
            v, pos = read_value(b, pos, at)
            items.append(v)
        return (at, items), pos
    fmt = {U8: 'B', I8: 'b', U16: 'H', I16: 'h', U32: 'I', I32: 'i', F32: 'f', BOOL: '?',
           U64: 'Q', I64: 'q', F64: 'd'}[t]
    return struct.unpack_from('<' + fmt, b, pos)[0], pos + struct.calcsize(fmt)


def parse(b):
    _v, n_t, n_kv = struct.unpack_from('<IQQ', b, 4)
    pos, kvs = 24, []
    for _ in range(n_kv):
        key, pos = read_value(b, pos, STRING)
        t = struct.unpack_from('<I', b, pos)[0]
        v, pos = read_value(b, pos + 4, t)
        kvs.append([key.decode(), t, v])
    infos_start = pos
    for _ in range(n_t):
        _n, pos = read_value(b, pos, STRING)
        nd = struct.unpack_from('<I', b, pos)[0]
        pos += 4 + 8 * nd + 12
    align = next((v for k, t, v in kvs if k == 'general.alignment'), ALIGN)
    data_start = pos + (-pos) % align
    return kvs, b[infos_start:pos], n_t, b[data_start:], align


def write(kvs, infos, n_t, data, align):
    enc = []
    for k, t, v in kvs:
        if t == ARRAY:
            enc.append(kv(k, ARRAY, v[1], v[0]))
        else:
            enc.append(kv(k, t, v))
    body = b'GGUF' + struct.pack('<IQQ', 3, n_t, len(kvs)) + b''.join(enc) + infos
    body += b'\0' * ((-len(body)) % align)
    return body + data


def semantic(model):
    b = open(model, 'rb').read()
    kvs, infos, n_t, data, align = parse(b)
    arch = next(v for k, t, v in kvs if k == 'general.architecture').decode()
    out = {}

    def variant(name, fn):
        k2 = [list(x) for x in kvs]
        fn(k2)
        out[name] = write(k2, infos, n_t, data, align)

    def set_kv(k2, key, t, v):
        for x in k2:
            if x[0] == key:
                x[1], x[2] = t, v
                return
        k2.append([key, t, v])

    variant('block_count_513', lambda k2: set_kv(k2, arch + '.block_count', U32, 513))

    def one_token(k2):
        for x in k2:
            if x[0] in ('tokenizer.ggml.tokens', 'tokenizer.ggml.scores', 'tokenizer.ggml.token_type'):
                x[2] = (x[2][0], x[2][1][:1])
        set_kv(k2, 'tokenizer.ggml.bos_token_id', U32, 7)
        set_kv(k2, 'tokenizer.ggml.eos_token_id', U32, 4000000000)
    variant('vocab_1_token', one_token)

    def byte_token(k2):
        for x in k2:
            if x[0] == 'tokenizer.ggml.tokens':
                toks = list(x[2][1])
                # The first byte token (<0x00>, of type BYTE in SentencePiece vocabularies).
                at = next((i for i, t in enumerate(toks) if t.startswith(b'<0x')), len(toks) - 1)
                toks[at] = b'<0x-1>'
                x[2] = (x[2][0], toks)
    variant('byte_token_minus_1', byte_token)
    return out


def main():
    args = sys.argv[1:]
    model = None
    if args[:1] == ['--from']:
        model, args = args[1], args[2:]
    outdir = args[0]
    os.makedirs(outdir, exist_ok=True)
    files = structural()
    if model:
        files.update(semantic(model))
    for name, data in files.items():
        with open(os.path.join(outdir, name + '.gguf'), 'wb') as f:
            f.write(data)
    print(len(files))


if __name__ == '__main__':
    main()
