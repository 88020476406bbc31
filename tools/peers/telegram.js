// Starts telegram-test-api on 127.0.0.1:PORT (argv[2]) and stops on SIGTERM.
// The package has no CLI of its own.
const TelegramServer = require('telegram-test-api');

const port = Number(process.argv[2]);
const server = new TelegramServer({ port, host: '127.0.0.1', storeTimeout: 600 });
server.start().then(() => console.log(`telegram-test-api listening on 127.0.0.1:${port}`));
const stop = () => server.stop().finally(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
