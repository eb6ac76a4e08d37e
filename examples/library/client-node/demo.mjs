#!/usr/bin/env node
// A walk through the library API with the client, checking what the document
// promises on the way. Prints one JSON line per step; exits 1 at the first
// broken promise, 2 when it cannot run.
//
//   node examples/library/client-node/demo.mjs http://127.0.0.1:8000/api \
//        reader@example.org reader-password

import { randomUUID } from "node:crypto";

import { LibraryClient, LibraryError } from "./library.mjs";

const [baseUrl, email = "reader@example.org", password = "reader-password"] =
  process.argv.slice(2);
if (!baseUrl) {
  console.error("usage: demo.mjs BASE_URL [EMAIL PASSWORD]");
  process.exit(2);
}

const library = new LibraryClient(baseUrl);
const step = (name, detail = {}) => console.log(JSON.stringify({ step: name, ...detail }));

class Broken extends Error {}
function expect(condition, promise) {
  if (!condition) throw new Broken(promise);
}

try {
  const me = await library.login(email, password);
  step("login", { username: me.username });

  const created = await library.createBook({
    isbn: "9780262033848",
    title: "Introduction to Algorithms",
    authors: ["Thomas H. Cormen", "Charles E. Leiserson"],
    copies: 1,
    replacementCost: 89.5,
  });
  expect(created.location?.endsWith(`/books/${created.slug}`), "Location names the new book");
  expect(/[+-]\d\d:\d\d$|Z$/.test(created.createdAt), "createdAt carries an offset");
  step("create book", { slug: created.slug });

  const seen = [];
  for await (const book of library.books({ limit: 2 })) seen.push(book.slug);
  const count = await library.bookCount();
  expect(new Set(seen).size === seen.length, "pages never repeat a book");
  expect(seen.length === count, "books_count is the number of books on every page");
  expect(seen.includes(created.slug), "the new book is listed");
  step("list books", { books: seen.length, pages_of: 2 });

  const favourite = await library.favorite(created.slug);
  expect(favourite.favorited && favourite.favoritesCount === 1, "a favourite counts");
  step("favourite", { favoritesCount: favourite.favoritesCount });

  const review = await library.addReview(created.slug, "The reference.", 5);
  expect((await library.reviews(created.slug)).some((r) => r.id === review.id), "review listed");
  step("review", { id: review.id });

  const key = randomUUID();
  const loan = await library.borrow(created.slug, { idempotencyKey: key });
  const replay = await library.borrow(created.slug, { idempotencyKey: key }).catch((error) => {
    expect(!(error instanceof LibraryError), `a retry with the same key is no new loan (${error})`);
  });
  expect(replay?.id === loan.id, "a retry with the same Idempotency-Key answers the same loan");
  expect((await library.getBook(created.slug)).available === 0, "the only copy is on loan");
  step("borrow", { loan: loan.id, replayed: replay?.id });

  const returned = await library.giveBack(loan.id);
  expect(returned.status === "returned" && returned.returnedAt !== null, "the loan is returned");
  step("give back", { status: returned.status });

  await library.deleteReview(created.slug, review.id);
  await library.deleteBook(created.slug);
  try {
    await library.getBook(created.slug);
    expect(false, "a deleted book answers 404");
  } catch (error) {
    if (!(error instanceof LibraryError)) throw error;
    expect(error.status === 404, `a deleted book answers 404 (got ${error.status})`);
  }
  step("delete", { slug: created.slug });
  step("done", { ok: true });
} catch (error) {
  if (error instanceof Broken) {
    step("broken promise", { promise: error.message });
    process.exit(1);
  }
  step("error", { message: error.message, status: error.status ?? null });
  process.exit(2);
}
