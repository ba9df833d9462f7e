from bench.seqgan.cli import main

main()
