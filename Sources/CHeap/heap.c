// TOMLKit 0.6.0 parses a document with `new toml::table(toml::parse(text))` and never deletes
// it: its `TOMLTable` class has no deinit, and its C layer no function that frees a node. A
// park's configuration (50,000 tags) makes a tree of about 100 MiB, so without this the daemon
// would keep every configuration it ever loaded: the one it started with and one more per
// SIGHUP reload.
//
// toml++'s `node` (the base of table, array and value) declares its virtual destructor first,
// so under the Itanium C++ ABI that Linux uses (x86-64 and AArch64 alike) the first two entries
// of every node's vtable are its complete-object destructor and its deleting destructor. The
// deleting destructor is `delete node`: it runs the node's own destructor (freeing the whole
// subtree) and releases its memory. This file calls that entry; it needs no toml++ header, and
// the code that runs is TOMLKit's own. Tests/HazmonConfigTests/ConfigMemoryTests.swift loads
// a large file repeatedly and checks that the heap does not grow.
#include "heap.h"

#include <malloc.h>
#include <string.h>

typedef void (*deleting_destructor)(void *);

void hazmon_toml_node_delete(void *node) {
    if (node == 0) return;
    void **vtable = *(void ***)node;
    ((deleting_destructor)vtable[1])(node);
}

size_t hazmon_heap_in_use(void) {
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}

void hazmon_heap_trim(void) {
    malloc_trim(0);
}

int hazmon_heap_policy(size_t mmap_threshold, int arena_max, const char *tunables) {
    if (tunables != 0 && strstr(tunables, "glibc.malloc.") != 0) return 0;
    int ok = mallopt(M_MMAP_THRESHOLD, (int)mmap_threshold);
    ok = mallopt(M_ARENA_MAX, arena_max) && ok;
    return ok ? 1 : -1;
}
