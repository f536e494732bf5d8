module.exports = require('../dist/src/nodes/rps-send').default;
