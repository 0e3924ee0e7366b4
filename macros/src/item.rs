//! The function an attribute is applied to, parsed just enough to rewrite it.
//!
//! The body is kept as tokens, not parsed into statements: that is faster, and a body with a
//! syntax error still reaches the compiler intact, which reports it better than we could.

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::parse::{Parse, ParseStream};
use syn::{braced, Attribute, Signature, Visibility};

/// A function or method with a body: `#[attrs] vis sig { #![inner] stmts }`.
pub(crate) struct ItemFn {
    /// Outer attributes, other than the one being expanded.
    pub(crate) attrs: Vec<Attribute>,
    pub(crate) vis: Visibility,
    pub(crate) sig: Signature,
    /// Inner attributes of the body (`#![allow(..)]`); they stay at the top of the rewritten body.
    pub(crate) inner_attrs: Vec<Attribute>,
    /// The statements of the body, untouched.
    pub(crate) stmts: TokenStream,
    /// The span of the body's closing brace, where errors about the body's value point.
    pub(crate) body_end: Span,
}

impl Parse for ItemFn {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig = input.parse()?;
        let content;
        let brace = braced!(content in input);
        let inner_attrs = content.call(Attribute::parse_inner)?;
        let stmts = content.parse()?;
        Ok(ItemFn {
            attrs,
            vis,
            sig,
            inner_attrs,
            stmts,
            body_end: brace.span.close(),
        })
    }
}

impl ItemFn {
    /// Writes `#[attrs] vis sig { #![inner] body }`, with `body` in place of the statements.
    pub(crate) fn with_body(&self, body: TokenStream) -> TokenStream {
        let ItemFn {
            attrs,
            vis,
            sig,
            inner_attrs,
            ..
        } = self;
        quote! {
            #(#attrs)*
            #vis #sig {
                #(#inner_attrs)*
                #body
            }
        }
    }
}

/// Parses `item` as a function with a body, or explains that `attribute` needs one.
pub(crate) fn parse(item: TokenStream, attribute: &str, needs: &str) -> syn::Result<ItemFn> {
    syn::parse2(item).map_err(|err| {
        let message =
            format!("the `#[baton::{attribute}]` attribute can only be applied to {needs}");
        syn::Error::new(err.span(), message)
    })
}

/// Emits `error` in front of `item`, so that the compiler reports the error and editors still see
/// the item.
pub(crate) fn with_error(error: syn::Error, item: impl ToTokens) -> TokenStream {
    let error = error.into_compile_error();
    quote! { #error #item }
}

/// Merges `errors` into one error, in order, or returns `Ok` if there are none.
pub(crate) fn combine(errors: Vec<syn::Error>) -> syn::Result<()> {
    let mut errors = errors.into_iter();
    match errors.next() {
        None => Ok(()),
        Some(mut first) => {
            first.extend(errors);
            Err(first)
        }
    }
}
