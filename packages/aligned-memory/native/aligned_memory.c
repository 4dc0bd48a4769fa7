// Page-aligned (optionally huge-page backed) memory for Node.js, as external ArrayBuffers.
//
// Why: O_DIRECT needs buffers aligned to the device's logical block size, which Node's allocator does not promise;
// and first-touch page faults dominate large reads into fresh memory, which 2 MiB transparent huge pages cut by 512x.
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <node_api.h>

#define HUGE_PAGE (2u * 1024u * 1024u)

typedef struct {
  void* base;      // what mmap returned
  size_t mapped;   // what mmap mapped
  int64_t size;    // what the caller asked for (reported to the GC)
} mapping_t;

static napi_value throw_errno(napi_env env, const char* what, int err) {
  char message[160];
  snprintf(message, sizeof message, "%s: %s", what, strerror(err));
  napi_throw_error(env, "E_ALLOC", message);
  return NULL;
}

static void release(napi_env env, void* data, void* hint) {
  mapping_t* m = (mapping_t*)hint;
  (void)data;
  int64_t ignored;
  napi_adjust_external_memory(env, -m->size, &ignored);
  munmap(m->base, m->mapped);
  free(m);
}

// allocate(size: number, hugePages: boolean) -> ArrayBuffer, page aligned (2 MiB aligned when hugePages).
static napi_value allocate(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2) {
    napi_throw_type_error(env, "E_ARGS", "allocate(size, hugePages)");
    return NULL;
  }
  int64_t size;
  bool huge;
  if (napi_get_value_int64(env, argv[0], &size) != napi_ok || size <= 0 ||
      napi_get_value_bool(env, argv[1], &huge) != napi_ok) {
    napi_throw_type_error(env, "E_ARGS", "allocate(size > 0, hugePages: boolean)");
    return NULL;
  }
  size_t align = huge ? HUGE_PAGE : 4096;
  size_t length = ((size_t)size + align - 1) / align * align;
  size_t mapped = length + (huge ? HUGE_PAGE : 0);  // slack to start on a 2 MiB boundary
  void* base = mmap(NULL, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) return throw_errno(env, "mmap", errno);
  uint8_t* start = (uint8_t*)base;
  if (huge) {
    start = (uint8_t*)(((uintptr_t)base + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    madvise(start, length, MADV_HUGEPAGE);  // advisory: without THP it is a no-op, not an error
  }
  mapping_t* m = malloc(sizeof *m);
  if (m == NULL) {
    munmap(base, mapped);
    return throw_errno(env, "malloc", ENOMEM);
  }
  m->base = base;
  m->mapped = mapped;
  m->size = size;
  napi_value buffer;
  if (napi_create_external_arraybuffer(env, start, (size_t)size, release, m, &buffer) != napi_ok) {
    munmap(base, mapped);
    free(m);
    return NULL;  // N-API has a pending exception
  }
  int64_t ignored;
  napi_adjust_external_memory(env, size, &ignored);
  return buffer;
}

// address(view: ArrayBufferView) -> number: the view's start address, so tests can prove alignment.
static napi_value address(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void* data;
  size_t length;
  napi_typedarray_type type;
  napi_value arraybuffer;
  size_t offset;
  if (argc < 1 || napi_get_typedarray_info(env, argv[0], &type, &length, &data, &arraybuffer, &offset) != napi_ok) {
    napi_throw_type_error(env, "E_ARGS", "address(typedArray)");
    return NULL;
  }
  napi_value result;
  napi_create_double(env, (double)(uintptr_t)data, &result);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"allocate", NULL, allocate, NULL, NULL, NULL, napi_default, NULL},
      {"address", NULL, address, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, 2, props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
