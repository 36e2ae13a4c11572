// SHA-256 and SHA-512 whose running state can be saved and restored, on the OpenSSL that Node.js
// itself carries (its exported symbols: nothing else to link). OpenSSL's low-level contexts are
// plain structs, so a digest runs at OpenSSL's speed (SHA extensions where the CPU has them)
// and can still stop after one request and go on in another process. Node's own crypto.Hash
// cannot export its state; hash-wasm can, at a tenth of the speed.
//
// The context lives in a Buffer that JavaScript owns: no handles to free, nothing to finalize.
// Saved state, format 1 (big-endian):
//   "BRS" 0x01 | algorithm (1 = sha256, 2 = sha512) | buffered byte count n |
//   chaining words (8 x 4 or 8 x 8 bytes) | message length so far in bytes (8) | n buffered bytes
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <node_api.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <string.h>

#define MAGIC "BRS\x01"
#define HEADER 6

static napi_value throw_error(napi_env env, const char *message) {
  napi_throw_error(env, NULL, message);
  return NULL;
}

static int buffer_arg(napi_env env, napi_value value, void **data, size_t *length) {
  bool is_buffer = false;
  if (napi_is_buffer(env, value, &is_buffer) != napi_ok || !is_buffer) return 0;
  return napi_get_buffer_info(env, value, data, length) == napi_ok;
}

static void put_be(uint8_t *out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; i--, v >>= 8) out[i] = (uint8_t)v;
}

static uint64_t get_be(const uint8_t *in, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; i++) v = (v << 8) | in[i];
  return v;
}

// create(algorithm: 'sha256' | 'sha512') -> context Buffer
static napi_value create(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  char name[8] = {0};
  size_t name_length = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1 || napi_get_value_string_utf8(env, argv[0], name, sizeof name, &name_length) != napi_ok) {
    return throw_error(env, "create: algorithm expected");
  }
  napi_value result;
  void *ctx;
  if (strcmp(name, "sha256") == 0) {
    if (napi_create_buffer(env, sizeof(SHA256_CTX), &ctx, &result) != napi_ok) return NULL;
    SHA256_Init(ctx);
  } else if (strcmp(name, "sha512") == 0) {
    if (napi_create_buffer(env, sizeof(SHA512_CTX), &ctx, &result) != napi_ok) return NULL;
    SHA512_Init(ctx);
  } else {
    return throw_error(env, "create: unknown algorithm");
  }
  return result;
}

// The two contexts differ in size, which tells them apart.
static int context_arg(napi_env env, napi_value value, void **ctx) {
  size_t length;
  if (!buffer_arg(env, value, ctx, &length)) return 0;
  return length == sizeof(SHA256_CTX) ? 256 : length == sizeof(SHA512_CTX) ? 512 : 0;
}

// update(context, data: Buffer) -> undefined
static napi_value update(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  void *ctx, *data;
  size_t length;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int bits = argc == 2 ? context_arg(env, argv[0], &ctx) : 0;
  if (!bits || !buffer_arg(env, argv[1], &data, &length)) return throw_error(env, "update: context and Buffer expected");
  if (bits == 256) SHA256_Update(ctx, data, length);
  else SHA512_Update(ctx, data, length);
  return NULL;
}

// digest(context) -> Buffer; the context is spent.
static napi_value digest(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  void *ctx, *out;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int bits = argc == 1 ? context_arg(env, argv[0], &ctx) : 0;
  if (!bits) return throw_error(env, "digest: context expected");
  if (napi_create_buffer(env, bits / 8, &out, &result) != napi_ok) return NULL;
  if (bits == 256) SHA256_Final(out, ctx);
  else SHA512_Final(out, ctx);
  return result;
}

// save(context) -> Buffer in the format above; the context stays usable.
static napi_value save(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  void *ctx;
  uint8_t *out;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int bits = argc == 1 ? context_arg(env, argv[0], &ctx) : 0;
  if (!bits) return throw_error(env, "save: context expected");
  int word = bits / 64;  // 4 or 8 bytes
  unsigned int num;
  uint64_t bytes;
  const uint8_t *pending;
  if (bits == 256) {
    SHA256_CTX *c = ctx;
    num = c->num;
    bytes = ((((uint64_t)c->Nh) << 32) | c->Nl) >> 3;
    pending = (const uint8_t *)c->data;
  } else {
    SHA512_CTX *c = ctx;
    if (c->Nh != 0) return throw_error(env, "save: message too long");
    num = c->num;
    bytes = c->Nl >> 3;
    pending = c->u.p;
  }
  size_t size = HEADER + 8 * word + 8 + num;
  if (napi_create_buffer(env, size, (void **)&out, &result) != napi_ok) return NULL;
  memcpy(out, MAGIC, 4);
  out[4] = bits == 256 ? 1 : 2;
  out[5] = (uint8_t)num;
  for (int i = 0; i < 8; i++) {
    put_be(out + HEADER + i * word, bits == 256 ? ((SHA256_CTX *)ctx)->h[i] : ((SHA512_CTX *)ctx)->h[i], word);
  }
  put_be(out + HEADER + 8 * word, bytes, 8);
  memcpy(out + HEADER + 8 * word + 8, pending, num);
  return result;
}

// restore(saved: Buffer) -> context, or null when the bytes are not a state this module wrote.
static napi_value restore(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result, null_value;
  const uint8_t *in;
  size_t length;
  void *ctx;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_get_null(env, &null_value);
  if (argc != 1 || !buffer_arg(env, argv[0], (void **)&in, &length)) return throw_error(env, "restore: Buffer expected");
  if (length < HEADER || memcmp(in, MAGIC, 4) != 0 || (in[4] != 1 && in[4] != 2)) return null_value;
  int bits = in[4] == 1 ? 256 : 512;
  int word = bits / 64;
  unsigned int block = bits == 256 ? SHA256_CBLOCK : SHA512_CBLOCK;
  unsigned int num = in[5];
  if (num >= block || length != HEADER + 8 * (size_t)word + 8 + num) return null_value;
  uint64_t bytes = get_be(in + HEADER + 8 * word, 8);
  if (bytes % block != num || bytes >> 61 != 0) return null_value;
  const uint8_t *pending = in + HEADER + 8 * word + 8;
  if (bits == 256) {
    if (napi_create_buffer(env, sizeof(SHA256_CTX), &ctx, &result) != napi_ok) return NULL;
    SHA256_CTX *c = ctx;
    SHA256_Init(c);
    for (int i = 0; i < 8; i++) c->h[i] = (SHA_LONG)get_be(in + HEADER + i * word, word);
    c->Nl = (SHA_LONG)(bytes << 3);
    c->Nh = (SHA_LONG)(bytes >> 29);
    c->num = num;
    memcpy(c->data, pending, num);
  } else {
    if (napi_create_buffer(env, sizeof(SHA512_CTX), &ctx, &result) != napi_ok) return NULL;
    SHA512_CTX *c = ctx;
    SHA512_Init(c);
    for (int i = 0; i < 8; i++) c->h[i] = get_be(in + HEADER + i * word, word);
    c->Nl = bytes << 3;
    c->Nh = 0;
    c->num = num;
    memcpy(c->u.p, pending, num);
  }
  return result;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor functions[] = {
      {"create", NULL, create, NULL, NULL, NULL, napi_enumerable, NULL},
      {"update", NULL, update, NULL, NULL, NULL, napi_enumerable, NULL},
      {"digest", NULL, digest, NULL, NULL, NULL, napi_enumerable, NULL},
      {"save", NULL, save, NULL, NULL, NULL, napi_enumerable, NULL},
      {"restore", NULL, restore, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions);
  return exports;
}
