// baton-store: a standalone TcpStore server.
//
// Serves one TcpStore on host:port until SIGINT or SIGTERM, for jobs whose
// store should outlive any rank (the launcher, or an operator, runs it).
// Prints "baton-store listening on HOST:PORT" once it is ready; with
// --port-file it also writes the port number to a file (written to a
// temporary name and renamed, so a reader never sees half a number).
// Exits 0 on SIGINT/SIGTERM, 1 when it cannot listen (e.g. the port is in
// use) or its secret is unusable, 2 on bad arguments.
//
// Job secret: --secret-file PATH (mode 0600, this user's), else BATON_SECRET,
// else BATON_SECRET_FILE; every client must then prove it. With none, the
// store is open to whoever reaches it (a warning when --host is not loopback).
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include "baton/error.hpp"
#include "baton/tcp_store.hpp"

namespace {

void write_port_file(const std::string& path, uint16_t port) {
  const std::string temporary = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(temporary);
    out << port << "\n";
    if (!out.good()) throw baton::IoError("cannot write the port file '" + temporary + "'");
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    std::remove(temporary.c_str());
    throw baton::IoError("cannot rename '" + temporary + "' to '" + path + "'");
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "baton-store: serve a baton TcpStore (the key-value store ranks rendezvous through) until "
      "SIGINT or SIGTERM."};
  std::string host = "127.0.0.1";
  int port = -1;
  std::string port_file;
  uint64_t max_value_bytes = 0;
  std::string secret_file;
  app.add_option("--host", host,
                 "Address to bind (default 127.0.0.1: this machine only). Use this host's address "
                 "on the network, "
                 "or 0.0.0.0 / :: for every interface, to serve other machines");
  app.add_option("--port", port,
                 "Port to listen on; 0 picks a free port (printed, and written to --port-file)")
      ->required()
      ->check(CLI::Range(0, 65535));
  app.add_option("--port-file", port_file,
                 "Write the bound port number to this file once listening");
  app.add_option("--max-value-bytes", max_value_bytes,
                 "Largest value accepted (default: BATON_STORE_MAX_VALUE_BYTES, 64 MiB)");
  app.add_option("--secret-file", secret_file,
                 "File holding the job secret (mode 0600, owned by this user) every client must "
                 "prove (default: BATON_SECRET, else BATON_SECRET_FILE; none: unauthenticated)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);  // prints help or the error
    return rc == 0 ? 0 : 2;
  }

  // Block the stop signals before the server thread starts so that only
  // sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  // The server reads the secret where the environment says (and checks the
  // file's mode and owner): --secret-file becomes BATON_SECRET_FILE, ahead
  // of any BATON_SECRET. Set before the server thread starts.
  if (!secret_file.empty()) {
    ::unsetenv("BATON_SECRET");
    ::setenv("BATON_SECRET_FILE", secret_file.c_str(), 1);
  }

  try {
    baton::TcpStoreServer server(baton::TcpStoreServerOptions{
        .host = host, .port = static_cast<uint16_t>(port), .max_value_bytes = max_value_bytes});
    if (!port_file.empty()) write_port_file(port_file, server.port());
    std::cout << "baton-store listening on " << server.address() << std::endl;
    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    std::cerr << "baton-store: " << (signal_number == SIGINT ? "SIGINT" : "SIGTERM") << ", stopping"
              << std::endl;
    server.stop();
  } catch (const baton::Error& e) {
    std::cerr << "baton-store: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
