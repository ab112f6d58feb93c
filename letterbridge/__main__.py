from letterbridge.cli import main

main()
