// RawSocket: a plain TCP client for tests that speak (or break) the TcpStore
// protocol by hand (with or without the job secret), and a listener for
// tests that play a foreign server.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "auth/secret.hpp"
#include "core/fd.hpp"
#include "store/tcp_protocol.hpp"

namespace baton::testing {

class RawSocket {
 public:
  // Connects to 127.0.0.1:port. A receive_buffer > 0 is set first (SO_RCVBUF),
  // so a reply this socket never reads stays in the server, not in the kernel.
  explicit RawSocket(uint16_t port, int receive_buffer = 0)
      : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    if (receive_buffer > 0) {
      ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof(receive_buffer));
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      throw std::runtime_error("RawSocket: connect failed");
    }
  }

  // "127.0.0.1:<our port>", as the server logs it.
  std::string local_name() const {
    sockaddr_in address{};
    socklen_t length = sizeof(address);
    ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&address), &length);
    return "127.0.0.1:" + std::to_string(ntohs(address.sin_port));
  }

  void send(std::span<const uint8_t> bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::send(fd_.get(), bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n <= 0) return;  // the server may already have closed: that is what tests look at
      done += static_cast<size_t>(n);
    }
  }
  void send(std::string_view text) {
    send(std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  }

  // Reads until the server closes the connection or the timeout passes.
  // Returns whether it closed; `received` gets what arrived before.
  bool wait_closed(std::chrono::milliseconds timeout, std::vector<uint8_t>* received = nullptr) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_.get(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      uint8_t buffer[4096];
      const ssize_t n = ::recv(fd_.get(), buffer, sizeof(buffer), 0);
      if (n <= 0) return true;  // EOF or reset
      if (received != nullptr) received->insert(received->end(), buffer, buffer + n);
    }
  }

  // Sends a valid hello and reads the server's 16-byte answer.
  store::tcp::HelloAck handshake() {
    send(store::tcp::encode_hello({}));
    std::array<uint8_t, store::tcp::kHelloAckBytes> answer{};
    size_t got = 0;
    while (got < answer.size()) {
      const ssize_t n = ::recv(fd_.get(), answer.data() + got, answer.size() - got, 0);
      if (n <= 0) throw std::runtime_error("RawSocket: handshake answer cut short");
      got += static_cast<size_t>(n);
    }
    return store::tcp::decode_hello_ack(answer);
  }

  // Reads exactly out.size() bytes; false when the connection closed or the
  // timeout passed first.
  bool read_exact(std::span<uint8_t> out,
                  std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    size_t got = 0;
    while (got < out.size()) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_.get(), POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      const ssize_t n = ::recv(fd_.get(), out.data() + got, out.size() - got, 0);
      if (n <= 0) return false;
      got += static_cast<size_t>(n);
    }
    return true;
  }

  // The first half of an authenticated handshake: a hello announcing a
  // secret with a fresh nonce, and the server's answer (with its nonce when
  // the answer is a challenge).
  struct Challenge {
    std::array<uint8_t, store::tcp::kHelloBytes> hello{};
    auth::Nonce client_nonce{};
    std::array<uint8_t, store::tcp::kHelloAckBytes> ack_bytes{};
    store::tcp::HelloAck ack;
    auth::Nonce server_nonce{};
  };
  Challenge challenge() {
    Challenge c;
    c.hello = store::tcp::encode_hello({.flags = store::tcp::kHelloHasSecret});
    c.client_nonce = auth::make_nonce();
    std::vector<uint8_t> first(c.hello.begin(), c.hello.end());
    first.insert(first.end(), c.client_nonce.begin(), c.client_nonce.end());
    send(first);
    if (!read_exact(c.ack_bytes)) throw std::runtime_error("RawSocket: no answer to the hello");
    c.ack = store::tcp::decode_hello_ack(c.ack_bytes);
    if (c.ack.status == store::tcp::HelloStatus::kChallenge && !read_exact(c.server_nonce)) {
      throw std::runtime_error("RawSocket: no server nonce after the challenge");
    }
    return c;
  }
  // The client's proof under `secret` for challenge `c`.
  static auth::Proof proof_for(const Challenge& c, const auth::Secret& secret) {
    return secret.prove(
        store::tcp::kClientRole,
        store::tcp::handshake_transcript(c.hello, c.client_nonce, c.ack_bytes, c.server_nonce)
            .bytes());
  }
  // A whole authenticated handshake; whether the server accepted and proved
  // the same secret.
  bool authenticate(const auth::Secret& secret) {
    const Challenge c = challenge();
    if (c.ack.status != store::tcp::HelloStatus::kChallenge) return false;
    send(proof_for(c, secret));
    std::array<uint8_t, store::tcp::kFrameHeaderBytes> head{};
    if (!read_exact(head)) return false;
    const auto header = store::tcp::decode_frame_header(head);
    if (header.kind != 0 || header.length != auth::kProofBytes) return false;
    auth::Proof server_proof{};
    if (!read_exact(server_proof)) return false;
    return secret.verify(
        store::tcp::kServerRole,
        store::tcp::handshake_transcript(c.hello, c.client_nonce, c.ack_bytes, c.server_nonce)
            .bytes(),
        server_proof);
  }

  int fd() const { return fd_.get(); }
  void close() { fd_.reset(); }

 private:
  UniqueFd fd_;
};

// A listening socket on 127.0.0.1 and a free port, for foreign-server tests.
class RawListener {
 public:
  RawListener() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (::bind(fd_.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        ::listen(fd_.get(), 16) != 0 ||
        ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      throw std::runtime_error("RawListener: bind/listen failed");
    }
    port_ = ntohs(address.sin_port);
  }
  uint16_t port() const { return port_; }
  UniqueFd accept() { return UniqueFd(::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC)); }
  void close() { fd_.reset(); }

 private:
  UniqueFd fd_;
  uint16_t port_ = 0;
};

}  // namespace baton::testing
