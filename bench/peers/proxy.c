#include <zmq.h>
#include <stdio.h>
int main(void) {
  void *ctx = zmq_ctx_new();
  void *fe = zmq_socket(ctx, ZMQ_ROUTER), *be = zmq_socket(ctx, ZMQ_DEALER);
  if (zmq_bind(fe, "tcp://127.0.0.1:5559") || zmq_bind(be, "tcp://127.0.0.1:5560")) { perror("bind"); return 1; }
  zmq_proxy(fe, be, NULL);
  return 0;
}
