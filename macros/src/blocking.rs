//! `#[baton::blocking]`: run a synchronous function's body inside a blocking section.
//!
//! ```text
//! #[baton::blocking]                   fn load(path: &Path) -> io::Result<Vec<u8>> {
//! fn load(path: &Path)            =>       ::baton::blocking::section(|| { body })
//!     -> io::Result<Vec<u8>>           }
//! { body }
//! ```
//!
//! The closure is not `move`: it borrows what the body borrows and takes what the body consumes,
//! so `self` receivers of every kind, references returned from the body and by-value arguments
//! all behave as in the original function, and arguments still drop when the function returns.
//! `return` and `?` in the body return from the closure, whose value is the function's.

use proc_macro2::TokenStream;
use quote::quote;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::{Meta, Token};

use crate::item;

/// Expands `#[baton::blocking]` and `#[baton::blocking(long)]`.
pub(crate) fn blocking(args: TokenStream, item: TokenStream) -> TokenStream {
    let function = match item::parse(item.clone(), "blocking", "a function or method with a body") {
        Ok(function) => function,
        Err(error) => return item::with_error(error, item),
    };
    let mut errors = Vec::new();
    let long = parse_long(args).unwrap_or_else(|error| {
        errors.push(error);
        false
    });
    if let Some(asyncness) = function.sig.asyncness {
        errors.push(syn::Error::new_spanned(
            asyncness,
            "`#[baton::blocking]` cannot be applied to an `async fn`: a blocking section must not \
             span an `.await`; run the blocking code with `baton::blocking::unblock(..).await`, or \
             wrap the blocking call inside the body in `baton::blocking::section(|| ..)`",
        ));
    }
    if let Some(constness) = function.sig.constness {
        errors.push(syn::Error::new_spanned(
            constness,
            "`#[baton::blocking]` cannot be applied to a `const fn`: a blocking section runs \
             at run time",
        ));
    }
    if let Err(error) = item::combine(errors) {
        // Keep the item as written, so that editors still see it.
        return item::with_error(error, item);
    }

    let section = if long {
        quote!(section_long)
    } else {
        quote!(section)
    };
    let stmts = &function.stmts;
    function.with_body(quote! {
        ::baton::blocking::#section(|| { #stmts })
    })
}

/// Parses the arguments: nothing, or `long`.
fn parse_long(args: TokenStream) -> syn::Result<bool> {
    let args = Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args)?;
    let mut long = false;
    let mut errors = Vec::new();
    for arg in args {
        errors.push(match arg {
            Meta::Path(path) if path.is_ident("long") && !long => {
                long = true;
                continue;
            }
            Meta::Path(path) if path.is_ident("long") => {
                syn::Error::new_spanned(path, "`long` is given twice")
            }
            arg => syn::Error::new_spanned(
                arg,
                "unknown argument: `#[baton::blocking]` accepts only `long`, as in \
                 `#[baton::blocking(long)]`",
            ),
        });
    }
    item::combine(errors).map(|()| long)
}
