import { connect } from 'nats';
const nc = await connect({ servers: '127.0.0.1:4222' });
nc.subscribe('echo', {
  queue: 'workers',
  callback: (err, m) => {
    if (!err) m.respond(m.data);
  },
});
process.on('SIGTERM', async () => {
  await nc.drain();
  process.exit(0);
});
console.log('ready');
