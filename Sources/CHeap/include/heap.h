#ifndef HAZMON_HEAP_H
#define HAZMON_HEAP_H

#include <stddef.h>

/// Deletes a toml++ node (a `toml::table`, `toml::array` or value) that was made with `new`,
/// through its virtual destructor. See heap.c for why hazmon needs it.
void hazmon_toml_node_delete(void *node);

/// The bytes the C heap (glibc's malloc) has handed out and not had back: what is live,
/// whatever the process's resident size says about fragmentation.
size_t hazmon_heap_in_use(void);

/// Hands the heap pages freed so far back to the system (`malloc_trim(0)`).
void hazmon_heap_trim(void);

/// Sets how glibc's malloc holds memory for the rest of the process; call it before any thread
/// starts. Blocks of `mmap_threshold` bytes or more get pages of their own, returned to the
/// system when freed (a fixed threshold also stops glibc raising it as large blocks are freed,
/// which put a park's 26 MB engine array and the configuration load's big buffers among
/// small blocks); at most `arena_max` malloc arenas (glibc's default is eight per core, each
/// keeping freed pages of its own). Returns 1 when set, -1 when glibc refused, and 0 when
/// `tunables` (the environment's GLIBC_TUNABLES, or NULL) already sets malloc tunables: the
/// operator's choice stands.
int hazmon_heap_policy(size_t mmap_threshold, int arena_max, const char *tunables);

#endif
