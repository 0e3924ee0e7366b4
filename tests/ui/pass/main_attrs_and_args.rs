// Outer and inner attributes are kept; a function other than `main` may take arguments, which
// the body captures.
#![deny(unused_variables)]

fn main() {
    let greeting = String::from("hello");
    assert_eq!(greet(greeting, 2), ["hello", "hello"]);
    assert_eq!(first_word("baton passes"), "baton");
}

#[allow(unused_variables)]
#[baton::main(cores = 1)]
async fn greet(greeting: String, times: usize) -> Vec<String> {
    #![allow(clippy::useless_vec)]
    let unused = ();
    vec![greeting; times]
}

#[baton::main]
async fn first_word(text: &str) -> &str {
    text.split(' ').next().unwrap_or(text)
}
