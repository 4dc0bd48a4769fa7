// Page-aligned (optionally huge-page backed) memory for Node.js, as external ArrayBuffers.
//
// Why: O_DIRECT needs buffers aligned to the device's logical block size, which Node's allocator does not promise;
// and first-touch page faults dominate large reads into fresh memory, which 2 MiB transparent huge pages cut by 512x.
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <node_api.h>

#define HUGE_PAGE (2u * 1024u * 1024u)

// allocate()'s modes.
enum { PAGES_SMALL = 0, PAGES_HUGE = 1, PAGES_HUGE_WHILE_CHEAP = 2 };

// What the adaptive mode did, for tests and benchmarks: huge pages it faulted in, allocations that gave up on them.
static int64_t huge_pages_faulted = 0;
static int64_t huge_page_fallbacks = 0;

static int64_t thread_cpu_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

// Faults the region in one huge page at a time while each fault stays cheap; at the first one that costs more than
// `limit_ns` of this thread's CPU time the rest of the region goes back to ordinary pages (faulted in later by
// whoever first writes them, e.g. concurrent reads).
//
// Why: a huge page is only fast when the kernel hands out memory the machine has recently used. In a VM whose
// balloon has free page reporting, free 2 MiB blocks are returned to the host after ~2 s, and the first write to
// one costs the host 512 small faults: measured 4-17 ms per huge page (1 GiB: 2.1-8.9 s) against 0.18-0.5 ms for a
// recently freed one and ~1 ms for the same 2 MiB as 4 KiB pages, which come from the small-block free lists the
// host keeps backed. CPU time, not wall time, so a busy machine preempting us does not look like a slow fault.
static void fault_in_while_cheap(uint8_t* start, size_t length, int64_t limit_ns) {
  for (size_t offset = 0; offset < length; offset += HUGE_PAGE) {
    int64_t before = thread_cpu_ns();
    ((volatile uint8_t*)start)[offset] = 0;  // a write: a read fault would map the shared zero page instead
    __atomic_fetch_add(&huge_pages_faulted, 1, __ATOMIC_RELAXED);  // worker threads share the addon
    if (thread_cpu_ns() - before > limit_ns) {
      size_t rest = offset + HUGE_PAGE;
      if (rest < length) madvise(start + rest, length - rest, MADV_NOHUGEPAGE);
      __atomic_fetch_add(&huge_page_fallbacks, 1, __ATOMIC_RELAXED);
      return;
    }
  }
}

typedef struct {
  void* base;      // what mmap returned
  size_t mapped;   // what mmap mapped
  uint8_t* start;  // the buffer's first byte (2 MiB aligned when huge)
  size_t length;   // usable bytes from start: the request rounded up to the alignment
  bool huge;       // marked MADV_HUGEPAGE and 2 MiB aligned
  int64_t size;    // what the caller asked for
} mapping_t;

// Released mappings kept for reuse (see reuse()): a buffer whose pages are already faulted in fills at memcpy
// speed, while fresh memory costs ~0.6 s of page faults per GiB on these VMs. Bounded in bytes and entries, and
// trimmed by age from JS (trimCache). Shared by every thread that loads the addon.
#define CACHE_SLOTS 16
#define CACHE_MIN_BYTES (2u * 1024u * 1024u)
typedef struct {
  mapping_t* mapping;
  int64_t released_ms;
} cached_t;
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static cached_t cache[CACHE_SLOTS];
static int cache_count = 0;
static size_t cache_bytes = 0;
static size_t cache_limit = 0;  // set from JS (setCacheLimit); 0 = keep nothing
static int64_t cache_reused = 0;
static int64_t live_reusable = 0;  // mappings of >= CACHE_MIN_BYTES not yet released

static int64_t now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void unmap(mapping_t* m) {
  munmap(m->base, m->mapped);
  free(m);
}

// With cache_lock held: removes entry i and returns its mapping.
static mapping_t* cache_take(int i) {
  mapping_t* m = cache[i].mapping;
  cache_bytes -= m->mapped;
  cache[i] = cache[--cache_count];
  return m;
}

// With cache_lock held: unmaps the oldest entries until `extra` more bytes and one more entry fit.
static void cache_evict_for(size_t extra) {
  while (cache_count > 0 && (cache_count == CACHE_SLOTS || cache_bytes + extra > cache_limit)) {
    int oldest = 0;
    for (int i = 1; i < cache_count; i++) {
      if (cache[i].released_ms < cache[oldest].released_ms) oldest = i;
    }
    unmap(cache_take(oldest));
  }
}

static napi_value throw_errno(napi_env env, const char* what, int err) {
  char message[160];
  snprintf(message, sizeof message, "%s: %s", what, strerror(err));
  napi_throw_error(env, "E_ALLOC", message);
  return NULL;
}

static void release(napi_env env, void* data, void* hint) {
  mapping_t* m = (mapping_t*)hint;
  (void)data;
  (void)env;
  if (m->mapped >= CACHE_MIN_BYTES) {
    pthread_mutex_lock(&cache_lock);
    live_reusable--;
    if (m->mapped <= cache_limit) {
      cache_evict_for(m->mapped);
      cache[cache_count].mapping = m;
      cache[cache_count].released_ms = now_ms();
      cache_count++;
      cache_bytes += m->mapped;
      m = NULL;
    }
    pthread_mutex_unlock(&cache_lock);
  }
  if (m != NULL) unmap(m);
}

// Wraps a mapping as an ArrayBuffer of `size` bytes; on failure the mapping is unmapped (N-API has the exception).
static napi_value wrap(napi_env env, mapping_t* m, int64_t size) {
  m->size = size;
  napi_value buffer;
  if (napi_create_external_arraybuffer(env, m->start, (size_t)size, release, m, &buffer) != napi_ok) {
    unmap(m);
    return NULL;
  }
  // No napi_adjust_external_memory: V8 already counts an external ArrayBuffer's length as external memory. Counting it
  // twice made every 4th 8 MiB result trigger a full GC (mark-compact) and the counter drift upwards.
  if (m->mapped >= CACHE_MIN_BYTES) {
    pthread_mutex_lock(&cache_lock);
    live_reusable++;
    pthread_mutex_unlock(&cache_lock);
  }
  return buffer;
}

// allocate(size: number, mode: 0 | 1 | 2, limitNs: number) -> ArrayBuffer, page aligned (2 MiB aligned unless
// mode 0). Mode 0: ordinary pages; 1: MADV_HUGEPAGE; 2: MADV_HUGEPAGE, faulted in now while huge pages are cheap
// (see fault_in_while_cheap), the rest ordinary pages.
static napi_value allocate(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 3) {
    napi_throw_type_error(env, "E_ARGS", "allocate(size, mode, limitNs)");
    return NULL;
  }
  int64_t size;
  int32_t mode;
  int64_t limit_ns;
  if (napi_get_value_int64(env, argv[0], &size) != napi_ok || size <= 0 ||
      napi_get_value_int32(env, argv[1], &mode) != napi_ok || mode < PAGES_SMALL || mode > PAGES_HUGE_WHILE_CHEAP ||
      napi_get_value_int64(env, argv[2], &limit_ns) != napi_ok) {
    napi_throw_type_error(env, "E_ARGS", "allocate(size > 0, mode: 0 | 1 | 2, limitNs: number)");
    return NULL;
  }
  bool huge = mode != PAGES_SMALL;
  size_t align = huge ? HUGE_PAGE : 4096;
  size_t length = ((size_t)size + align - 1) / align * align;
  size_t mapped = length + (huge ? HUGE_PAGE : 0);  // slack to start on a 2 MiB boundary
  void* base = mmap(NULL, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) return throw_errno(env, "mmap", errno);
  uint8_t* start = (uint8_t*)base;
  if (huge) {
    start = (uint8_t*)(((uintptr_t)base + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
    // Advisory: without THP it fails or does nothing, and the memory is ordinary pages.
    if (madvise(start, length, MADV_HUGEPAGE) == 0 && mode == PAGES_HUGE_WHILE_CHEAP) {
      fault_in_while_cheap(start, length, limit_ns);
    }
  }
  mapping_t* m = malloc(sizeof *m);
  if (m == NULL) {
    munmap(base, mapped);
    return throw_errno(env, "malloc", ENOMEM);
  }
  m->base = base;
  m->mapped = mapped;
  m->start = start;
  m->length = length;
  m->huge = huge;
  return wrap(env, m, size);
}

// reuse(size, huge: boolean) -> ArrayBuffer | undefined: a released mapping that fits `size` (at most a quarter
// larger; 2 MiB aligned and marked for huge pages when `huge`), with whatever bytes it last held, or undefined.
static napi_value reuse(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int64_t size;
  bool huge;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_value_int64(env, argv[0], &size) != napi_ok || size <= 0 || napi_get_value_bool(env, argv[1], &huge) != napi_ok) {
    napi_throw_type_error(env, "E_ARGS", "reuse(size > 0, huge: boolean)");
    return NULL;
  }
  size_t need = (size_t)size;
  mapping_t* m = NULL;
  pthread_mutex_lock(&cache_lock);
  int best = -1;
  for (int i = 0; i < cache_count; i++) {
    mapping_t* c = cache[i].mapping;
    if (c->length < need || c->length - need > need / 4 || (huge && !c->huge)) continue;
    if (best < 0 || c->length < cache[best].mapping->length) best = i;
  }
  if (best >= 0) {
    m = cache_take(best);
    cache_reused++;
  }
  pthread_mutex_unlock(&cache_lock);
  napi_value result;
  if (m == NULL) {
    napi_get_undefined(env, &result);
    return result;
  }
  return wrap(env, m, size);
}

// trimCache(maxIdleMs) -> [cachedBytes, entries, reused, live]: unmaps entries released more than maxIdleMs ago.
static napi_value trim_cache(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int64_t max_idle_ms = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int64(env, argv[0], &max_idle_ms) != napi_ok || max_idle_ms < 0) {
    napi_throw_type_error(env, "E_ARGS", "trimCache(maxIdleMs >= 0)");
    return NULL;
  }
  int64_t cutoff = now_ms() - max_idle_ms;
  pthread_mutex_lock(&cache_lock);
  for (int i = 0; i < cache_count;) {
    if (cache[i].released_ms <= cutoff) {
      unmap(cache_take(i));
    } else {
      i++;
    }
  }
  double stats[4] = {(double)cache_bytes, (double)cache_count, (double)cache_reused, (double)live_reusable};
  pthread_mutex_unlock(&cache_lock);
  napi_value result, value;
  napi_create_array_with_length(env, 4, &result);
  for (uint32_t i = 0; i < 4; i++) {
    napi_create_double(env, stats[i], &value);
    napi_set_element(env, result, i, value);
  }
  return result;
}

// setCacheLimit(bytes): how many bytes of released mappings may be kept for reuse (0: none); evicts to fit.
static napi_value set_cache_limit(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int64_t limit;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_value_int64(env, argv[0], &limit) != napi_ok || limit < 0) {
    napi_throw_type_error(env, "E_ARGS", "setCacheLimit(bytes >= 0)");
    return NULL;
  }
  pthread_mutex_lock(&cache_lock);
  cache_limit = (size_t)limit;
  cache_evict_for(0);
  pthread_mutex_unlock(&cache_lock);
  return NULL;
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

// prefault(view, limitNs, skip) -> Promise<boolean>: on a libuv pool thread, faults in the huge pages the view
// touches while each stays cheap (the view must lie in a buffer from allocate(), mode 1), like fault_in_while_cheap; `skip` (a slow page was already seen in
// this buffer) or a slow page marks the rest of the view MADV_NOHUGEPAGE. Resolves true when it met a slow page.
// Why a pool thread: concurrent reads each prepare their own range, so first-touch faults run in parallel instead
// of serially on the JS thread before the first read starts.
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

// Maps the ordinary pages of [start, start + length) writable without touching their bytes (Linux >= 5.14; older
// kernels refuse and the read faults them in instead). Measured on this VM: 1 GiB of 4 KiB pages populated in
// 360-370 ms on one thread, against 560-780 ms when the same pages are faulted in one write at a time.
static void populate(uint8_t* start, size_t length) {
  uintptr_t first = (uintptr_t)start & ~(uintptr_t)4095;
  uintptr_t end = ((uintptr_t)start + length + 4095) & ~(uintptr_t)4095;
  if (end > first) madvise((void*)first, end - first, MADV_POPULATE_WRITE);
}

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  napi_ref view;      // keeps the memory alive while the worker touches it
  uint8_t* start;
  size_t length;
  int64_t limit_ns;
  bool skip;
  bool slow;
} prefault_t;

static void prefault_execute(napi_env env, void* data) {
  (void)env;
  prefault_t* p = (prefault_t*)data;
  // Outward to whole huge pages: a page shared with a neighbouring part is probed by whichever part comes first (the
  // other finds it present, at no cost). The buffer starts on a huge page and its mapping is rounded up to one.
  uintptr_t first = (uintptr_t)p->start & ~(uintptr_t)(HUGE_PAGE - 1);
  uintptr_t end = ((uintptr_t)p->start + p->length + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
  if (end <= first) return;
  if (p->skip) {
    madvise((void*)first, end - first, MADV_NOHUGEPAGE);
    populate(p->start, p->length);
    return;
  }
  for (uintptr_t page = first; page < end; page += HUGE_PAGE) {
    int64_t before = thread_cpu_ns();
    // An atomic add of 0: a write fault that leaves the byte as it is, even if a read already filled it.
    __atomic_fetch_add((uint8_t*)page, 0, __ATOMIC_RELAXED);
    __atomic_fetch_add(&huge_pages_faulted, 1, __ATOMIC_RELAXED);
    if (thread_cpu_ns() - before > p->limit_ns) {
      if (page + HUGE_PAGE < end) madvise((void*)(page + HUGE_PAGE), end - page - HUGE_PAGE, MADV_NOHUGEPAGE);
      __atomic_fetch_add(&huge_page_fallbacks, 1, __ATOMIC_RELAXED);
      p->slow = true;
      populate(p->start, p->length);
      return;
    }
  }
}

static void prefault_complete(napi_env env, napi_status status, void* data) {
  prefault_t* p = (prefault_t*)data;
  napi_value result;
  napi_get_boolean(env, p->slow, &result);
  if (status == napi_ok) {
    napi_resolve_deferred(env, p->deferred, result);
  } else {
    napi_value message, error;
    napi_create_string_utf8(env, "prefault failed", NAPI_AUTO_LENGTH, &message);
    napi_create_error(env, NULL, message, &error);
    napi_reject_deferred(env, p->deferred, error);
  }
  napi_delete_reference(env, p->view);
  napi_delete_async_work(env, p->work);
  free(p);
}

static napi_value prefault(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void* data;
  size_t length;
  napi_typedarray_type type;
  napi_value arraybuffer;
  size_t offset;
  int64_t limit_ns;
  bool skip;
  if (argc < 3 || napi_get_typedarray_info(env, argv[0], &type, &length, &data, &arraybuffer, &offset) != napi_ok ||
      type != napi_uint8_array || napi_get_value_int64(env, argv[1], &limit_ns) != napi_ok ||
      napi_get_value_bool(env, argv[2], &skip) != napi_ok) {
    napi_throw_type_error(env, "E_ARGS", "prefault(view: Uint8Array, limitNs: number, skip: boolean)");
    return NULL;
  }
  prefault_t* p = calloc(1, sizeof *p);
  if (p == NULL) return throw_errno(env, "calloc", ENOMEM);
  p->start = (uint8_t*)data;
  p->length = length;
  p->limit_ns = limit_ns;
  p->skip = skip;
  napi_value promise, name;
  napi_create_promise(env, &p->deferred, &promise);
  napi_create_reference(env, argv[0], 1, &p->view);
  napi_create_string_utf8(env, "aligned_memory_prefault", NAPI_AUTO_LENGTH, &name);
  napi_create_async_work(env, NULL, name, prefault_execute, prefault_complete, p, &p->work);
  napi_queue_async_work(env, p->work);
  return promise;
}

// hugePageStats() -> [huge pages faulted in by mode 2, mode-2 allocations that fell back to ordinary pages].
static napi_value huge_page_stats(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result, faulted, fallbacks;
  napi_create_array_with_length(env, 2, &result);
  napi_create_int64(env, __atomic_load_n(&huge_pages_faulted, __ATOMIC_RELAXED), &faulted);
  napi_create_int64(env, __atomic_load_n(&huge_page_fallbacks, __ATOMIC_RELAXED), &fallbacks);
  napi_set_element(env, result, 0, faulted);
  napi_set_element(env, result, 1, fallbacks);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"allocate", NULL, allocate, NULL, NULL, NULL, napi_default, NULL},
      {"address", NULL, address, NULL, NULL, NULL, napi_default, NULL},
      {"hugePageStats", NULL, huge_page_stats, NULL, NULL, NULL, napi_default, NULL},
      {"prefault", NULL, prefault, NULL, NULL, NULL, napi_default, NULL},
      {"reuse", NULL, reuse, NULL, NULL, NULL, napi_default, NULL},
      {"trimCache", NULL, trim_cache, NULL, NULL, NULL, napi_default, NULL},
      {"setCacheLimit", NULL, set_cache_limit, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
