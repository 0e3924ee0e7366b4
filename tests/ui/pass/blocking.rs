// `#[baton::blocking]` keeps the function's meaning: its value, `return`, `?`, receivers of every
// kind, borrowed results, generics and attributes. Off a baton worker the body simply runs.

use std::fmt::Debug;
use std::io;
use std::sync::{Mutex, MutexGuard};

use baton::blocking::in_section;

#[baton::blocking]
fn parse(text: &str) -> Result<u32, std::num::ParseIntError> {
    assert!(in_section());
    if text.is_empty() {
        return Ok(0);
    }
    let n = text.trim().parse::<u32>()?;
    Ok(n * 2)
}

#[baton::blocking(long)]
fn read_manifest() -> io::Result<usize> {
    #![allow(clippy::let_and_return)]
    let len = std::fs::read("Cargo.toml")?.len();
    Ok(len)
}

#[baton::blocking]
fn describe<T>(value: T) -> String
where
    T: Debug,
{
    format!("{value:?}")
}

#[baton::blocking]
fn evens(limit: u32) -> impl Iterator<Item = u32> {
    (0..limit).filter(|n| n % 2 == 0)
}

#[baton::blocking]
fn push<'a>(into: &mut Vec<&'a str>, item: &'a str) {
    into.push(item);
}

struct Store {
    items: Mutex<Vec<u32>>,
    last: u32,
}

impl Store {
    #[baton::blocking]
    fn lock(&self) -> MutexGuard<'_, Vec<u32>> {
        self.items.lock().unwrap()
    }

    #[baton::blocking(long)]
    fn last_mut(&mut self) -> &mut u32 {
        &mut self.last
    }

    #[baton::blocking]
    pub fn into_items(self) -> Vec<u32> {
        self.items.into_inner().unwrap()
    }

    #[baton::blocking]
    fn first(self: &Self) -> Option<u32> {
        self.lock().first().copied()
    }
}

trait Load {
    #[baton::blocking]
    fn load(&self) -> u32 {
        7
    }
}

impl Load for Store {}

#[baton::blocking]
unsafe fn read(pointer: *const u32) -> u32 {
    // SAFETY: the caller passes a valid pointer.
    unsafe { *pointer }
}

fn main() {
    assert_eq!(parse(" 21 "), Ok(42));
    assert_eq!(parse(""), Ok(0));
    assert!(parse("x").is_err());
    assert!(read_manifest().unwrap() > 0);
    assert_eq!(describe(Some(1)), "Some(1)");
    assert_eq!(evens(5).collect::<Vec<_>>(), [0, 2, 4]);
    let mut words = Vec::new();
    push(&mut words, "baton");
    assert_eq!(words, ["baton"]);

    let mut store = Store {
        items: Mutex::new(vec![1, 2]),
        last: 0,
    };
    store.lock().push(3);
    *store.last_mut() = 9;
    assert_eq!(store.last, 9);
    assert_eq!(store.first(), Some(1));
    assert_eq!(store.load(), 7);
    assert_eq!(store.into_items(), [1, 2, 3]);
    // SAFETY: `&5` is a valid pointer.
    assert_eq!(unsafe { read(&5) }, 5);
    assert!(!in_section());
}
