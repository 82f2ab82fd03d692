#include <zmq.h>
#include <stdio.h>
int main(void) {
  void *ctx = zmq_ctx_new();
  void *s = zmq_socket(ctx, ZMQ_REP);
  if (zmq_connect(s, "tcp://127.0.0.1:5560")) { perror("connect"); return 1; }
  for (;;) {
    zmq_msg_t m; zmq_msg_init(&m);
    if (zmq_msg_recv(&m, s, 0) < 0) return 1;
    int more = zmq_msg_more(&m);
    if (zmq_msg_send(&m, s, more ? ZMQ_SNDMORE : 0) < 0) return 1;
  }
}
