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

#endif
