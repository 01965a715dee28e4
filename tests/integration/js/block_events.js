// Reads blocks and filtered blocks from a Fabric Gateway peer (or devnet) with Hyperledger's
// official Node client, @hyperledger/fabric-gateway, and prints what it read as one JSON line.
// Usage: node block_events.js <address> <tls-root.pem> <msp-id> <cert.pem> <key.pem> <channel> <count>
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const grpc = require('@grpc/grpc-js');
const { connect, signers } = require('@hyperledger/fabric-gateway');

async function firstBlocks(iterable, count, describe) {
    const out = [];
    try {
        for await (const block of iterable) {
            out.push(describe(block));
            if (out.length >= count) break;
        }
    } finally {
        iterable.close();
    }
    return out;
}

async function main() {
    const [address, tlsRoot, mspId, certPath, keyPath, channel, countText] = process.argv.slice(2);
    const count = Number(countText);
    const client = new grpc.Client(address, grpc.credentials.createSsl(fs.readFileSync(tlsRoot)));
    const gateway = connect({
        client,
        identity: { mspId, credentials: fs.readFileSync(certPath) },
        signer: signers.newPrivateKeySigner(crypto.createPrivateKey(fs.readFileSync(keyPath))),
    });
    try {
        const network = gateway.getNetwork(channel);
        const blocks = await firstBlocks(
            await network.getBlockEvents({ startBlock: BigInt(0) }),
            count,
            (b) => ({
                number: Number(b.getHeader().getNumber()),
                txs: b.getData().getDataList().length,
                previousHash: Buffer.from(b.getHeader().getPreviousHash_asU8()).toString('hex'),
            }),
        );
        const filtered = await firstBlocks(
            await network.getFilteredBlockEvents({ startBlock: BigInt(0) }),
            count,
            (b) => ({
                number: Number(b.getNumber()),
                txs: b.getFilteredTransactionsList().map((t) => [t.getTxid(), t.getTxValidationCode()]),
            }),
        );
        console.log(JSON.stringify({ blocks, filtered }));
    } finally {
        gateway.close();
        client.close();
    }
}

main().catch((err) => {
    console.error(String(err && err.stack ? err.stack : err));
    process.exit(1);
});
