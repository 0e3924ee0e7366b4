//! `#[baton::main]` and `#[baton::test]`: run an `async fn` on a fresh baton runtime.
//!
//! ```text
//! #[baton::main(cores = 2)]            fn main() -> R {
//! async fn main() -> R { body }   =>       let body = async move { body };
//!                                          ::baton::Runtime::builder().cores(2).build()
//!                                              .expect("failed to build the baton runtime")
//!                                              .block_on(body)
//!                                      }
//! ```
//!
//! `start_paused = true` adds `.start_paused(true)`, and `.cores(1)` unless `cores` is given (it
//! must be 1 then).
//!
//! `#[baton::test]` does the same and adds `#[::core::prelude::v1::test]`. When the arguments are
//! wrong but the function is usable, the error comes with the expansion for the default
//! configuration, so only the real mistake is reported.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprLit, Lit, Meta, ReturnType, Token};

use crate::item::{self, ItemFn};

/// Which attribute is being expanded.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Entry {
    Main,
    Test,
}

impl Entry {
    fn name(self) -> &'static str {
        match self {
            Entry::Main => "main",
            Entry::Test => "test",
        }
    }
}

/// The arguments of the attribute.
#[derive(Default)]
struct Config {
    /// `cores = N`, with the span of `N`.
    cores: Option<(usize, Span)>,
    /// `start_paused = true` or `false`, with the span of the value.
    start_paused: Option<(bool, Span)>,
}

/// Expands `#[baton::main]`.
pub(crate) fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Entry::Main, args, item)
}

/// Expands `#[baton::test]`.
pub(crate) fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Entry::Test, args, item)
}

fn expand(entry: Entry, args: TokenStream, item: TokenStream) -> TokenStream {
    let mut function = match item::parse(item.clone(), entry.name(), "an `async fn`") {
        Ok(function) => function,
        Err(error) => return item::with_error(error, item),
    };
    let mut errors = Vec::new();
    let config = parse_config(entry, args).unwrap_or_else(|error| {
        errors.push(error);
        Config::default()
    });
    errors.extend(check_signature(entry, &function).err());
    if let Err(error) = check_attrs(entry, &function) {
        errors.push(error);
        function.attrs.retain(|attr| !attr.path().is_ident("test"));
    }
    // A test that takes arguments is expanded as a plain function: registering it would only add
    // the compiler's own error about test arguments to ours.
    let register = entry == Entry::Test && !takes_args(&function);
    // On errors, still expand (with the default configuration if the arguments were wrong): the
    // result is what the user meant, so only the real mistake is reported.
    let expanded = rewrite(function, &config, register);
    match item::combine(errors) {
        Ok(()) => expanded,
        Err(error) => item::with_error(error, expanded),
    }
}

fn takes_args(function: &ItemFn) -> bool {
    !function.sig.inputs.is_empty()
}

/// Rejects signatures the attribute cannot run: a function that is not `async`, and a `main` or a
/// test that takes arguments.
fn check_signature(entry: Entry, function: &ItemFn) -> syn::Result<()> {
    let sig = &function.sig;
    let mut errors = Vec::new();
    if sig.asyncness.is_none() {
        errors.push(syn::Error::new_spanned(
            sig.fn_token,
            format!(
                "the `async` keyword is missing from the function declaration: \
                 `#[baton::{}]` runs an `async fn`",
                entry.name()
            ),
        ));
    }
    if takes_args(function) && (entry == Entry::Test || sig.ident == "main") {
        let what = match entry {
            Entry::Main => "the main function",
            Entry::Test => "a test function",
        };
        let message = format!("{what} cannot take arguments");
        errors.push(syn::Error::new_spanned(&sig.inputs, message));
    }
    item::combine(errors)
}

/// Rejects a second test attribute, which would register the test twice.
fn check_attrs(entry: Entry, function: &ItemFn) -> syn::Result<()> {
    if entry == Entry::Main {
        return Ok(());
    }
    let errors = function
        .attrs
        .iter()
        .filter(|attr| attr.path().is_ident("test"))
        .map(|attr| {
            syn::Error::new_spanned(
                attr,
                "a second test attribute is supplied: remove it, `#[baton::test]` already adds \
                 `#[test]`",
            )
        })
        .collect();
    item::combine(errors)
}

/// Parses `cores = N`, reporting every bad argument at once.
fn parse_config(entry: Entry, args: TokenStream) -> syn::Result<Config> {
    let args = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args)?;
    let mut config = Config::default();
    let mut errors = Vec::new();
    for arg in args {
        match arg {
            Meta::NameValue(arg) if arg.path.is_ident("cores") => match parse_cores(&arg.value) {
                Ok(_) if config.cores.is_some() => {
                    errors.push(syn::Error::new_spanned(arg, "`cores` is given twice"));
                }
                Ok(cores) => config.cores = Some((cores, arg.value.span())),
                Err(error) => errors.push(error),
            },
            Meta::Path(path) if path.is_ident("cores") => errors.push(syn::Error::new_spanned(
                path,
                "`cores` needs a value, such as `cores = 4`",
            )),
            Meta::NameValue(arg) if arg.path.is_ident("start_paused") => {
                match parse_bool(&arg.value) {
                    Ok(_) if config.start_paused.is_some() => errors.push(syn::Error::new_spanned(
                        arg,
                        "`start_paused` is given twice",
                    )),
                    Ok(paused) => config.start_paused = Some((paused, arg.value.span())),
                    Err(error) => errors.push(error),
                }
            }
            Meta::Path(path) if path.is_ident("start_paused") => {
                errors.push(syn::Error::new_spanned(
                    path,
                    "`start_paused` needs a value: `start_paused = true`",
                ))
            }
            arg => {
                let name = path_string(arg.path());
                errors.push(syn::Error::new_spanned(
                    arg,
                    format!(
                        "unknown argument `{name}`: `#[baton::{}]` accepts only `cores = N` and \
                         `start_paused = true`",
                        entry.name()
                    ),
                ));
            }
        }
    }
    if let (Some((cores, span)), Some((true, _))) = (config.cores, config.start_paused) {
        if cores != 1 {
            errors.push(syn::Error::new(
                span,
                "`start_paused = true` needs one core: a paused clock auto-advances only on a \
                 runtime with one core (leave `cores` out, or write `cores = 1`)",
            ));
        }
    }
    item::combine(errors).map(|()| config)
}

/// Reads the value of `start_paused`: `true` or `false`.
fn parse_bool(value: &Expr) -> syn::Result<bool> {
    match value {
        Expr::Lit(ExprLit {
            lit: Lit::Bool(value),
            ..
        }) => Ok(value.value),
        other => Err(syn::Error::new_spanned(
            other,
            "`start_paused` takes `true` or `false`",
        )),
    }
}

/// Reads the value of `cores`: a positive integer literal.
fn parse_cores(value: &Expr) -> syn::Result<usize> {
    const EXPECTED: &str = "`cores` takes a positive integer literal, such as `cores = 4`";
    let Expr::Lit(ExprLit {
        lit: Lit::Int(lit), ..
    }) = value
    else {
        return Err(syn::Error::new_spanned(value, EXPECTED));
    };
    if lit.base10_digits().starts_with('-') {
        return Err(syn::Error::new_spanned(lit, EXPECTED));
    }
    match lit.base10_parse::<usize>() {
        Ok(0) => Err(syn::Error::new_spanned(
            lit,
            "`cores` must be at least 1: a runtime needs a core to run tasks",
        )),
        Ok(cores) => Ok(cores),
        Err(_) => Err(syn::Error::new_spanned(
            lit,
            "`cores` is too large: it must fit in a `usize`",
        )),
    }
}

/// Turns the `async fn` into a synchronous one that blocks on its body.
fn rewrite(mut function: ItemFn, config: &Config, register_test: bool) -> TokenStream {
    function.sig.asyncness = None;
    let stmts = &function.stmts;
    // Names the user's code cannot see.
    let body = quote_spanned!(Span::mixed_site()=> body);
    let runtime = quote_spanned!(Span::mixed_site()=> runtime);
    let paused = config.start_paused.filter(|&(paused, _)| paused);
    // A paused clock needs one core: that is the default then.
    let cores = config
        .cores
        .or(paused.map(|(_, span)| (1, span)))
        .map(|(cores, span)| {
            let mut cores = Literal::usize_unsuffixed(cores);
            cores.set_span(span);
            quote!(.cores(#cores))
        });
    let start_paused = paused.map(|(_, span)| quote_spanned!(span=> .start_paused(true)));
    // For tests, block on a `dyn Future` so that every test shares one `block_on` instance.
    let pin = register_test.then(|| {
        let output = match &function.sig.output {
            ReturnType::Default => quote!(()),
            ReturnType::Type(_, ty) => quote!(#ty),
        };
        quote! {
            let #body = ::core::pin::pin!(#body);
            let #body: ::core::pin::Pin<&mut dyn ::core::future::Future<Output = #output>> = #body;
        }
    });
    let block_on = quote_spanned! {function.body_end=>
        #[allow(clippy::expect_used)]
        let #runtime = ::baton::Runtime::builder()
            #cores
            #start_paused
            .build()
            .expect("failed to build the baton runtime");
        #runtime.block_on(#body)
    };
    let rewritten = function.with_body(quote! {
        let #body = async move { #stmts };
        #pin
        #block_on
    });
    let test = register_test.then(|| quote!(#[::core::prelude::v1::test]));
    quote! {
        #test
        #rewritten
    }
}

/// Renders a path as the user wrote it, for error messages.
fn path_string(path: &syn::Path) -> String {
    quote!(#path).to_string().replace(' ', "")
}
