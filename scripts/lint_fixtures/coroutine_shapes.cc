// Each shape check_coroutines.py must find (its --self-test): not compiled.
asio::awaitable<void> defaulted(HostPort to, ForwardOptions options = {});  // 4
asio::awaitable<void> shapes(Stream& s, bool ok) {
  if (co_await wait_readable(s)) co_return;                      // 1
  co_await answer(s, ok ? std::string("a") : fmt::format("b"));  // 2
  co_await defaulted(HostPort{"a", 1}, std::move(options));      // 3
  co_await answer(s, reply(1, TcpEndpoint{}));                   // fine: a plain function's argument
  error_code ec = co_await wait_readable(s);                     // fine
}
