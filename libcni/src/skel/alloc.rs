//! A global allocator for plugin processes.
//!
//! A plugin lives for a millisecond and allocates a few hundred kilobytes at most, then exits.
//! musl's allocator serves many of those small requests with an `mmap`/`munmap` pair each, and
//! that churn was a measurable part of a plugin's run time. This allocator hands out memory
//! from a static arena by bumping a pointer (the arena is BSS, so untouched pages cost
//! nothing) and only gives memory back when the most recent allocation is freed or grown, which
//! is the common pattern for growing buffers. Once the arena is used up it falls back to the
//! system allocator, so a long run degrades to normal behaviour instead of failing.
//!
//! A plugin opts in with:
//! ```ignore
//! #[global_allocator]
//! static ALLOC: libcni::skel::PluginAllocator = libcni::skel::PluginAllocator;
//! ```

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};

const ARENA_SIZE: usize = 1 << 20;

#[repr(C, align(4096))]
struct Arena(UnsafeCell<[u8; ARENA_SIZE]>);

// SAFETY: every byte range of the arena is handed to at most one owner at a time; the
// bookkeeping is the atomic `NEXT`.
unsafe impl Sync for Arena {}

static ARENA: Arena = Arena(UnsafeCell::new([0; ARENA_SIZE]));
/// Offset of the first free byte of the arena.
static NEXT: AtomicUsize = AtomicUsize::new(0);

pub struct PluginAllocator;

fn base() -> usize {
    ARENA.0.get() as usize
}

fn in_arena(ptr: *mut u8) -> bool {
    let p = ptr as usize;
    p >= base() && p < base() + ARENA_SIZE
}

impl PluginAllocator {
    /// Bump-allocates `layout` from the arena, or returns null when it does not fit.
    fn bump(layout: Layout) -> *mut u8 {
        let base = base();
        let mut cur = NEXT.load(Ordering::Relaxed);
        loop {
            let start = (base + cur).next_multiple_of(layout.align()) - base;
            let Some(end) = start.checked_add(layout.size()) else {
                return ptr::null_mut();
            };
            if end > ARENA_SIZE {
                return ptr::null_mut();
            }
            match NEXT.compare_exchange_weak(cur, end, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => return (base + start) as *mut u8,
                Err(actual) => cur = actual,
            }
        }
    }
}

// SAFETY: arena blocks are disjoint and suitably aligned; everything else is System's.
unsafe impl GlobalAlloc for PluginAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = Self::bump(layout);
        if p.is_null() {
            // SAFETY: forwarded with the caller's layout.
            unsafe { System.alloc(layout) }
        } else {
            p
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if in_arena(ptr) {
            // Only the most recent block can be returned; the rest is reclaimed at exit.
            let end = ptr as usize - base() + layout.size();
            let _ = NEXT.compare_exchange(
                end,
                ptr as usize - base(),
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
        } else {
            // SAFETY: not ours, so System allocated it with this layout.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if in_arena(ptr) {
            // Grow or shrink in place when this is the most recent block.
            let start = ptr as usize - base();
            let end = start + layout.size();
            if let Some(new_end) = start.checked_add(new_size) {
                if new_end <= ARENA_SIZE
                    && NEXT
                        .compare_exchange(end, new_end, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                {
                    return ptr;
                }
            }
            if new_size <= layout.size() {
                return ptr;
            }
        } else {
            // SAFETY: not ours, so System allocated it with this layout.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // SAFETY: the new layout keeps the old alignment and a valid size, as GlobalAlloc
        // guarantees for realloc.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: forwarded to our own alloc/dealloc with matching layouts.
        unsafe {
            let new = self.alloc(new_layout);
            if !new.is_null() {
                ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
            new
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bump_reuses_only_the_last_block_and_falls_back_when_full() {
        let a = PluginAllocator;
        unsafe {
            let l = Layout::from_size_align(100, 8).unwrap();
            let p1 = a.alloc(l);
            let p2 = a.alloc(l);
            assert!(in_arena(p1) && in_arena(p2));
            assert_eq!(p2 as usize % 8, 0);
            p1.write_bytes(1, 100);
            // Growing the last block stays in place.
            let p2b = a.realloc(p2, l, 400);
            assert_eq!(p2b, p2);
            // Growing an older block moves it and keeps its bytes.
            let p1b = a.realloc(p1, l, 300);
            assert_ne!(p1b, p1);
            assert_eq!(*p1b.add(99), 1);
            // A block larger than the arena comes from the system.
            let big = Layout::from_size_align(ARENA_SIZE + 1, 8).unwrap();
            let pb = a.alloc(big);
            assert!(!pb.is_null() && !in_arena(pb));
            a.dealloc(pb, big);
            a.dealloc(p1b, Layout::from_size_align(300, 8).unwrap());
            a.dealloc(p2b, Layout::from_size_align(400, 8).unwrap());
        }
    }
}
